"""A community meetup: per-event-type defaults, a later grant, explain, a receipt and a
revocation.

Lena sets once what she shares by default for community events and for business events;
registering with ``share=None`` applies those defaults. Later she agrees to share her
phone number for one meetup, asks why the organiser can see it, gets a signed receipt for
that consent, and finally withdraws it.

Run it: ``python examples/community_event.py`` (in memory; nothing is written to disk).
"""

from __future__ import annotations

import copy

from dualid import DataField, DualId, EventType, EventUserData, HostKind

COMMUNITY = "green-city"
MEETUP = "meetup-2026-06"
CONFERENCE_HOST = "fintech-forum"
CONFERENCE = "forum-2026"


def show(sdk: DualId, host_id: str, event_id: str) -> None:
    for attendee in sdk.events.attendees(host_id, event_id):
        shared = attendee.data.model_dump(exclude_none=True, include={f.value for f in DataField})
        print(f"   {host_id} sees {attendee.ref[:12]}...: {shared}")


def main() -> None:
    with DualId.open("sqlite://") as sdk:
        # Two hosts and what they ask for.
        sdk.hosts.register(COMMUNITY, kind=HostKind.COMMUNITY, name="Green City Gardeners")
        sdk.hosts.require(
            COMMUNITY,
            EventType.COMMUNITY_EVENT,
            required={DataField.NAME},
            optional={DataField.EMAIL, DataField.PHONE_NUMBER, DataField.ADDITIONAL_DATA},
            purpose="attendee list and event reminders",
        )
        sdk.hosts.register(CONFERENCE_HOST, kind=HostKind.BUSINESS, name="Fintech Forum")
        sdk.hosts.require(
            CONFERENCE_HOST,
            EventType.BUSINESS_EVENT,
            required={DataField.NAME, DataField.COMPANY_AFFILIATION},
            optional={DataField.EMAIL},
            purpose="badge printing",
        )

        lena = sdk.identity.agent_for("user-lena")
        sdk.profiles.put(
            lena,
            EventUserData(
                name="Lena Becker",
                email="lena@example.org",
                phone_number="+49 151 23456789",
                company_affiliation="Northwind Traders",
                additional_data={"tshirtSize": "M"},
            ),
        )

        # 1. Defaults per event type: decided once, applied at every registration.
        sdk.consent.set_default(lena, EventType.COMMUNITY_EVENT, {DataField.NAME, DataField.EMAIL})
        sdk.consent.set_default(
            lena, EventType.BUSINESS_EVENT, {DataField.NAME, DataField.COMPANY_AFFILIATION}
        )
        meetup = sdk.events.register(lena, COMMUNITY, EventType.COMMUNITY_EVENT, MEETUP)
        forum = sdk.events.register(lena, CONFERENCE_HOST, EventType.BUSINESS_EVENT, CONFERENCE)
        assert meetup.shared == {DataField.NAME, DataField.EMAIL}
        assert forum.shared == {DataField.NAME, DataField.COMPANY_AFFILIATION}
        print("1. Registered with her defaults:")
        show(sdk, COMMUNITY, MEETUP)
        show(sdk, CONFERENCE_HOST, CONFERENCE)

        # 2. explain: why the organiser does not see her phone number.
        why = sdk.consent.explain(lena, COMMUNITY, MEETUP, DataField.PHONE_NUMBER)
        assert not why.visible
        assert why.reason == "no_grant"
        print(f"2. Phone visible to {COMMUNITY}? {why.visible} ({why.reason})")

        # 3. A later grant: her phone, for this meetup only, for day-of reminders.
        grant = sdk.consent.grant(
            lena,
            COMMUNITY,
            fields={DataField.PHONE_NUMBER},
            event_id=MEETUP,
            purpose="SMS reminder on the day",
        )
        why = sdk.consent.explain(lena, COMMUNITY, MEETUP, DataField.PHONE_NUMBER)
        assert why.visible
        assert why.grant_ids == (grant.id,)
        print(f"3. After the grant: visible={why.visible} via {why.grant_ids[0]}")
        show(sdk, COMMUNITY, MEETUP)

        # 4. A signed consent receipt; it names her by the host's pairwise ref, and any
        #    edit breaks the signature.
        receipt = sdk.consent.receipt(grant.id)
        assert sdk.consent.verify_receipt(receipt)
        assert lena not in str(receipt)
        forged = copy.deepcopy(receipt)
        forged["consent"]["fields"].append("birthday")
        assert not sdk.consent.verify_receipt(forged)
        print(f"4. Receipt {receipt['receipt_id'][:20]}... for {receipt['consent']['fields']}")
        print("   verifies: True; a copy with an added field: False")

        # 5. What she shares with whom, from her own settings page.
        print("5. Lena's sharing overview:")
        for item in sdk.consent.shared(lena):
            fields = sorted(f.value for f in item.fields)
            print(f"   {item.host_name} / {item.event_id}: {fields} ({item.purpose})")

        # 6. She withdraws the phone grant: the organiser loses it at once.
        sdk.consent.revoke(grant.id)
        why = sdk.consent.explain(lena, COMMUNITY, MEETUP, DataField.PHONE_NUMBER)
        assert not why.visible
        assert why.reason == "revoked"
        (attendee,) = sdk.events.attendees(COMMUNITY, MEETUP)
        assert attendee.data.phone_number is None
        assert attendee.data.email == "lena@example.org"
        print(f"6. After revoking: phone visible={why.visible} ({why.reason})")
        show(sdk, COMMUNITY, MEETUP)

        # 7. Her own audit trail, and the chain is intact.
        print("7. Lena's history:", [entry.action for entry in sdk.consent.history(lena)])
        assert sdk.audit.verify().ok


if __name__ == "__main__":
    main()
