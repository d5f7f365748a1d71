"""The pages: :func:`consent_pages` builds the router.

No ``from __future__ import annotations`` here: FastAPI reads the endpoint signatures at
import time, and the dependencies they name are local to the factory.
"""

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import FormData

from dualid import DataField, DualId, DualIdError, EventType, EventUserData, Grant, Host
from dualid.errors import (
    ConsentRequired,
    DuplicateRegistration,
    EventTypeMismatch,
    FieldNotRequested,
    InvalidExpiry,
    UnknownAgent,
    UnknownEvent,
    UnknownGrant,
    UnknownRegistration,
)
from dualid.fastapi import ProblemError, status_for
from dualid.fastapi._routing import DEFAULT_MAX_BODY_BYTES, _read_bounded

from . import _views as views
from ._csrf import COOKIE_NAME, FIELD_NAME, CsrfTokens, new_nonce, valid_nonce
from ._i18n import DEFAULT_LOCALE, LOCALES, N_, Texts, choose_locale, translations

__all__ = ["DEFAULT_EXPIRY_OPTIONS", "consent_pages"]

log = logging.getLogger("dualid.ui")

DEFAULT_EXPIRY_OPTIONS: Final = (timedelta(days=30), timedelta(days=90), timedelta(days=365))
"""The expiry periods the consent page offers by default, besides "until I withdraw it"."""

ExpiryOptions = Sequence[timedelta] | Callable[[Host, EventType], Sequence[timedelta]]

_HOST_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_EVENT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_TEMPLATES: Final = Path(__file__).parent / "templates"
_STYLESHEET: Final = (Path(__file__).parent / "static" / "dualid.css").read_bytes()
_STYLESHEET_ETAG: Final = '"' + hashlib.sha256(_STYLESHEET).hexdigest()[:32] + '"'
_FORM_LIMITS: Final = {"max_files": 0, "max_fields": 64, "max_part_size": 16 * 1024}
# Headers of every page: personal data is never cached, the pages run no script and
# cannot be framed.
_PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
_NOTICES: Final[Mapping[str, str]] = {
    "registered": N_("You are registered. The host now sees exactly what you chose to share."),
    "declined": N_("You did not register. Nothing was shared."),
    "withdrawn": N_("Done: the host no longer receives it."),
    "default_saved": N_("Your default was saved."),
    "erased": N_("Your data was erased."),
}
_INPUTS: Final[Mapping[DataField, tuple[str, str]]] = {
    DataField.NAME: ("text", "name"),
    DataField.PHONE_NUMBER: ("tel", "tel"),
    DataField.EMAIL: ("email", "email"),
    DataField.BIRTHDAY: ("date", "bday"),
    DataField.COMPANY_AFFILIATION: ("text", "organization"),
    DataField.ADDITIONAL_DATA: ("textarea", "off"),
}
_ERROR_TITLES: Final[Mapping[int, str]] = {
    400: N_("This link does not work"),
    403: N_("This form has expired"),
    404: N_("We could not find this page"),
    409: N_("This cannot be done right now"),
    410: N_("This data was erased"),
    413: N_("The form was too large"),
    422: N_("This could not be saved"),
    503: N_("The service is busy"),
}
_ERROR_TEXTS: Final[Mapping[int, str]] = {
    400: N_("The address is incomplete or not valid. Go back and follow the link again."),
    403: N_(
        "For your security, forms work for a limited time and only in the browser that "
        "opened them. Go back, reload the page and try again. Nothing was changed."
    ),
    404: N_("It does not exist, or it is not yours."),
    409: N_("It conflicts with the current state. Nothing was changed."),
    410: N_("It is no longer held."),
    413: N_("Nothing was changed."),
    422: N_("Nothing was changed."),
    503: N_("Nothing was changed. Please try again in a moment."),
}


class _CsrfRefused(Exception):
    """A form arrived without a valid CSRF token."""


@dataclass
class _Person:
    """The caller: their userId (from the application's dependency) and, once they have
    one, their agentId. Neither is ever put into a page."""

    user_id: str
    agent_id: str | None


@dataclass
class _Choice:
    """One data field on the consent page."""

    name: DataField
    label: str
    required: bool
    value: str | None
    checked: bool
    input_type: str
    autocomplete: str
    entered: str = ""
    error: str | None = None

    @property
    def id(self) -> str:
        return self.name.value.replace("_", "-")


@dataclass
class _ConsentForm:
    """What the person sent from the consent page."""

    chosen: set[DataField] = field(default_factory=set)
    entered: dict[DataField, str] = field(default_factory=dict)
    expiry: str = ""
    save_profile: bool = False


def _zone(value: str | tzinfo) -> tzinfo:
    return ZoneInfo(value) if isinstance(value, str) else value


def _expiry_value(delta: timedelta) -> str:
    return str(int(delta.total_seconds()))


def _expiry_label(texts: Texts, delta: timedelta) -> str:
    days = delta.days
    if days and days % 365 == 0:
        years = days // 365
        return texts.ngettext("For %(num)d year", "For %(num)d years", years) % {"num": years}
    return texts.ngettext("For %(num)d day", "For %(num)d days", days) % {"num": days}


def _parse_value(name: DataField, text: str) -> Any:
    if name is DataField.ADDITIONAL_DATA:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value
    return text


def consent_pages(
    sdk: DualId,
    *,
    authenticate_user: Callable[..., Any],
    templates_dir: str | os.PathLike[str] | None = None,
    stylesheets: Sequence[str] = (),
    site_name: str | None = None,
    locales: Sequence[str] = LOCALES,
    default_locale: str = DEFAULT_LOCALE,
    timezone: str | tzinfo = "UTC",
    expiry_options: ExpiryOptions = DEFAULT_EXPIRY_OPTIONS,
    csrf_secret: bytes | None = None,
    csrf_max_age: timedelta = timedelta(hours=2),
    secure_cookies: bool | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> APIRouter:
    """The consent and data-sharing settings pages, as an :class:`~fastapi.APIRouter`:
    ``app.include_router(consent_pages(sdk, authenticate_user=dep), prefix="/privacy")``.

    ``authenticate_user`` is a FastAPI dependency, as for
    :func:`~dualid.fastapi.user_router`, returning the person's userId (or raising
    ``HTTPException(401)``, which reaches the application's own handlers: redirect to your
    login page there).

    Pages (under the prefix): ``/`` the settings (what is shared with whom, withdrawal,
    defaults, receipts, export, erasure), ``/hosts/{host_id}/events/{event_id}/register?
    type=...`` the consent page of an event, ``/history``, ``/grants/{id}/receipt``
    (``.json`` to download), ``/withdraw`` and ``/erase`` (confirmation steps). Every form
    posts, checks its CSRF token and redirects (POST-redirect-GET).

    ``templates_dir``: a folder whose templates replace the shipped ones of the same name
    (``consent.html``, ``base.html``, ...), one by one. ``stylesheets``: URLs of your
    stylesheets, linked after dualid's (set its CSS custom properties there).
    ``site_name``: shown in the header. ``locales``/``default_locale``: the languages
    offered (chosen by the ``lang`` parameter, then ``Accept-Language``);
    ``timezone``: the one dates are shown in. ``expiry_options``: the periods the
    consent page offers besides "until I withdraw it", in whole days, or a function of
    the host and event type returning them (an empty sequence offers no choice).
    ``csrf_secret``: by default derived from the SDK's root secret
    (:meth:`~dualid.DualId.derive_secret`), so every instance on the same store agrees.
    ``secure_cookies``: ``None`` marks the CSRF cookie ``Secure`` on HTTPS requests.

    Mount it once per application: its route names (``dualid_ui.settings``, ...) are
    fixed.

    .. versionadded:: 0.2.0
    """
    unknown = [loc for loc in locales if loc != "en" and not translations(loc).files]
    if unknown or default_locale not in locales:
        raise ValueError(f"no catalog for these locales: {unknown or [default_locale]}")
    offered = tuple(locales)
    zone = _zone(timezone)
    tokens = CsrfTokens(
        csrf_secret if csrf_secret is not None else sdk.derive_secret("dualid.ui/csrf"),
        sdk.clock,
        csrf_max_age,
    )
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(_TEMPLATES))]
    if templates_dir is not None:
        loaders.insert(0, jinja2.FileSystemLoader(os.fspath(templates_dir)))
    loader = jinja2.ChoiceLoader(loaders)
    environments: dict[str, jinja2.Environment] = {}
    for locale in offered:
        env = jinja2.Environment(
            loader=loader,
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Added by the i18n extension, so unknown to the type stubs.
        env.install_gettext_translations(  # type: ignore[attr-defined]
            translations(locale), newstyle=True
        )
        environments[locale] = env

    # -- the page of one request ----------------------------------------------------------
    class Screen:
        """What every page of one request shares: its language, links and CSRF token."""

        def __init__(self, request: Request, person: _Person | None) -> None:
            self.request = request
            self.person = person
            asked = request.query_params.get("lang")
            self.lang = asked if asked in offered else None
            self.locale = choose_locale(
                self.lang, request.headers.get("accept-language"), offered, default_locale
            )
            self.texts = Texts(self.locale, zone)
            cookie = request.cookies.get(COOKIE_NAME)
            self.nonce: str = cookie if cookie is not None and valid_nonce(cookie) else new_nonce()
            self.set_cookie = self.nonce != cookie

        def url(self, name: str, query: Mapping[str, str] | None = None, **path: str) -> str:
            params = dict(query or {})
            if self.lang is not None:
                params["lang"] = self.lang
            target = self.request.url_for(name, **path).path
            return target + ("?" + urlencode(params) if params else "")

        def stylesheet_url(self) -> str:
            return self.request.url_for("dualid_ui.stylesheet").path

        def languages(self) -> list[dict[str, Any]]:
            here = self.request.url.path
            out = []
            for locale in offered:
                params = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
                params.append(("lang", locale))
                out.append(
                    {
                        "code": locale,
                        "name": self.texts.language_name(locale),
                        "url": here + "?" + urlencode(params),
                        "current": locale == self.locale,
                    }
                )
            return out

        def csrf_token(self) -> str:
            assert self.person is not None
            return tokens.issue(self.nonce, self.person.user_id)

        def check_csrf(self, form: FormData) -> None:
            token = form.get(FIELD_NAME)
            cookie = self.request.cookies.get(COOKIE_NAME)
            assert self.person is not None
            if not isinstance(token, str) or not tokens.check(token, cookie, self.person.user_id):
                raise _CsrfRefused

        def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
            texts = self.texts
            notice = _NOTICES.get(self.request.query_params.get("notice", ""))
            html = (
                environments[self.locale]
                .get_template(template)
                .render(
                    screen=self,
                    texts=texts,
                    site_name=site_name,
                    stylesheets=list(stylesheets),
                    notice=texts.gettext(notice) if notice else None,
                    csrf_field=FIELD_NAME,
                    **context,
                )
            )
            response = HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)
            self.attach_cookie(response)
            return response

        def attach_cookie(self, response: Response) -> None:
            if self.set_cookie and self.person is not None:
                secure = (
                    secure_cookies
                    if secure_cookies is not None
                    else self.request.url.scheme == "https"
                )
                response.set_cookie(
                    COOKIE_NAME,
                    self.nonce,
                    path=self.request.url_for("dualid_ui.settings").path,
                    httponly=True,
                    samesite="strict",
                    secure=secure,
                )

        def redirect(self, notice: str | None = None) -> RedirectResponse:
            query = {"notice": notice} if notice else None
            return RedirectResponse(self.url("dualid_ui.settings", query), status_code=303)

        def error(self, status: int) -> HTMLResponse:
            texts = self.texts
            title = _ERROR_TITLES.get(status, N_("Something went wrong"))
            text = _ERROR_TEXTS.get(status, N_("Nothing was changed. Please try again later."))
            return self.render(
                "message.html",
                status=status,
                title=texts.gettext(title),
                message=texts.gettext(text),
            )

    class PageRoute(APIRoute):
        """Failures become pages in the person's language: SDK errors with their HTTP
        status, malformed links 400/404, CSRF failures 403. The application's own
        ``HTTPException``s (from ``authenticate_user``) pass through to its handlers."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def page_handler(request: Request) -> Response:
                try:
                    await _read_bounded(request, max_body_bytes)
                    return await handler(request)
                except DualIdError as exc:
                    return Screen(request, None).error(status_for(exc))
                except ProblemError as exc:
                    return Screen(request, None).error(exc.status)
                except RequestValidationError as exc:
                    in_path = any(e.get("loc", ("",))[0] == "path" for e in exc.errors())
                    return Screen(request, None).error(404 if in_path else 400)
                except _CsrfRefused:
                    return Screen(request, None).error(403)

            return page_handler

    router = APIRouter(route_class=PageRoute, include_in_schema=False)

    def current_person(user_id: Annotated[str, Depends(authenticate_user)]) -> _Person:
        return _Person(user_id, sdk.identity.lookup(user_id))

    def current_screen(
        request: Request, person: Annotated[_Person, Depends(current_person)]
    ) -> Screen:
        return Screen(request, person)

    async def read_form(request: Request) -> FormData:
        return await request.form(**_FORM_LIMITS)

    Page = Annotated[Screen, Depends(current_screen)]
    Form = Annotated[FormData, Depends(read_form)]
    HostId = Annotated[str, PathParam(pattern=_HOST_ID_PATTERN)]
    EventId = Annotated[str, PathParam(pattern=_EVENT_ID_PATTERN)]
    GrantId = Annotated[str, PathParam(pattern=r"^gr_[A-Za-z0-9_-]{1,40}$")]

    def host_names(host_ids: set[str]) -> dict[str, Any]:
        found = {}
        for host_id in sorted(host_ids):
            with contextlib.suppress(DualIdError):
                host = sdk.hosts.get(host_id)
                found[host_id] = (host.name, host.kind)
        return found

    def own_active_grant(agent_id: str | None, grant_id: str) -> Grant:
        if agent_id is not None:
            for grant in sdk.consent.grants(agent_id):
                if grant.id == grant_id:
                    return grant
        raise UnknownGrant("no such grant")

    # -- the stylesheet -------------------------------------------------------------------
    @router.get("/dualid.css", name="dualid_ui.stylesheet")
    def stylesheet(request: Request) -> Response:
        headers = {"ETag": _STYLESHEET_ETAG, "Cache-Control": "public, max-age=3600"}
        if request.headers.get("if-none-match") == _STYLESHEET_ETAG:
            return Response(status_code=304, headers=headers)
        return Response(_STYLESHEET, media_type="text/css", headers=headers)

    # -- the consent page -------------------------------------------------------------------
    def options_for(host: Host, event_type: EventType) -> list[timedelta]:
        chosen = expiry_options(host, event_type) if callable(expiry_options) else expiry_options
        # Whole days only: the page words them as days and years.
        day = timedelta(days=1)
        return [d for d in chosen if d >= day and d % day == timedelta(0)]

    def consent_view(
        screen: Screen,
        host_id: str,
        event_id: str,
        event_type: EventType,
        form: _ConsentForm | None = None,
        errors: Mapping[DataField, str] | None = None,
        general_error: str | None = None,
    ) -> HTMLResponse:
        texts = screen.texts
        person = screen.person
        assert person is not None
        host = sdk.hosts.get(host_id)
        try:
            event = sdk.events.get(host_id, event_id)
        except UnknownEvent:
            event = None
        if event is not None and event.event_type != event_type:
            raise EventTypeMismatch("this event has another event type")
        agent_id = person.agent_id
        if agent_id is not None and any(
            r.host_id == host_id and r.event_id == event_id
            for r in sdk.events.registrations(agent_id)
        ):
            return screen.render(
                "message.html",
                title=texts.gettext("You are already registered"),
                message=texts.gettext(
                    "You can see and change what you share with %(host)s in your settings."
                )
                % {"host": host.name},
                link=screen.url("dualid_ui.settings"),
                link_text=texts.gettext("Your data-sharing settings"),
            )
        requirement = sdk.hosts.requirement(host_id, event_type)
        profile = sdk.profiles.get(agent_id) if agent_id is not None else None
        defaults = sdk.consent.defaults(agent_id) if agent_id is not None else {}
        preset = defaults.get((event_type, host_id), defaults.get((event_type, None), frozenset()))
        required = requirement.required if requirement else frozenset()
        optional = requirement.optional if requirement else frozenset()
        choices = []
        for name in DataField:
            if name not in required and name not in optional:
                continue
            input_type, autocomplete = _INPUTS[name]
            is_required = name in required
            if form is not None:
                checked = is_required or name in form.chosen
            else:
                checked = is_required or name in preset
            choices.append(
                _Choice(
                    name=name,
                    label=views.field_label(texts, name),
                    required=is_required,
                    value=views.profile_value(texts, profile, name),
                    checked=checked,
                    input_type=input_type,
                    autocomplete=autocomplete,
                    entered=form.entered.get(name, "") if form is not None else "",
                    error=(errors or {}).get(name),
                )
            )
        expiries = [
            {"value": _expiry_value(d), "label": _expiry_label(texts, d)}
            for d in options_for(host, event_type)
        ]
        status = 422 if errors or general_error else 200
        return screen.render(
            "consent.html",
            status=status,
            host=host,
            host_kind=views.host_kind_label(texts, host.kind),
            event_id=event_id,
            event_title=event.title if event is not None else None,
            event_starts=texts.datetime(event.starts_at) if event is not None else "",
            event_type=event_type,
            event_type_label=views.event_type_label(texts, event_type),
            purpose=requirement.purpose if requirement else None,
            required=[c for c in choices if c.required],
            optional=[c for c in choices if not c.required],
            expiries=expiries,
            expiry=form.expiry if form is not None else "",
            save_profile=form.save_profile if form is not None else False,
            errors=[c for c in choices if c.error],
            general_error=general_error,
            action=screen.url(
                "dualid_ui.register", {"type": event_type.value}, host_id=host_id, event_id=event_id
            ),
        )

    @router.get(
        "/hosts/{host_id}/events/{event_id}/register", name="dualid_ui.consent", response_model=None
    )
    def consent_page(
        screen: Page,
        host_id: HostId,
        event_id: EventId,
        event_type: Annotated[EventType, Query(alias="type")],
    ) -> Response:
        return consent_view(screen, host_id, event_id, event_type)

    def read_consent_form(form: FormData, declared: frozenset[DataField]) -> _ConsentForm:
        chosen = set()
        for raw in form.getlist("share"):
            try:
                name = DataField(str(raw))
            except ValueError:
                continue
            if name in declared:
                chosen.add(name)
        entered = {}
        for name in declared:
            text = form.get(f"value_{name.value}")
            if isinstance(text, str) and text.strip():
                entered[name] = text.strip()
        expiry = form.get("expiry")
        return _ConsentForm(
            chosen=chosen,
            entered=entered,
            expiry=expiry if isinstance(expiry, str) else "",
            save_profile=form.get("save_profile") == "yes",
        )

    @router.post(
        "/hosts/{host_id}/events/{event_id}/register",
        name="dualid_ui.register",
        response_model=None,
    )
    def register(
        screen: Page,
        form: Form,
        host_id: HostId,
        event_id: EventId,
        event_type: Annotated[EventType, Query(alias="type")],
    ) -> Response:
        screen.check_csrf(form)
        if form.get("action") != "confirm":
            # "Don't register": nothing is written, whatever else the form holds.
            return screen.redirect("declined")
        texts = screen.texts
        person = screen.person
        assert person is not None
        host = sdk.hosts.get(host_id)
        requirement = sdk.hosts.requirement(host_id, event_type)
        required = requirement.required if requirement else frozenset()
        declared = requirement.declared if requirement else frozenset()
        sent = read_consent_form(form, declared)
        share = set(required) | sent.chosen
        profile = sdk.profiles.get(person.agent_id) if person.agent_id is not None else None
        errors: dict[DataField, str] = {}
        values: dict[str, Any] = {}
        today = sdk.clock.now().latest.date()
        wrong_expiry = texts.gettext("Choose how long to share from the list.")

        def again(
            errors: Mapping[DataField, str] | None, general: str | None = None, keep: bool = True
        ) -> Response:
            """The page again, with the errors and (``keep``) what the person sent."""
            kept = sent if keep else None
            return consent_view(screen, host_id, event_id, event_type, kept, errors, general)

        def needs_value(name: DataField) -> str:
            label = {"field": views.field_label(texts, name)}
            if name in required:
                return texts.gettext("Enter a value for %(field)s: the host needs it.") % label
            return texts.gettext("Enter a value for %(field)s, or untick it.") % label

        for name in DataField:
            if name not in share:
                continue
            stored = getattr(profile, name.value) if profile is not None else None
            text = sent.entered.get(name)
            if text is None:
                if stored is None:
                    errors[name] = needs_value(name)
                continue
            if stored is not None:
                continue  # the page offers no input for a stored value: ignore one sent
            try:
                parsed = EventUserData.model_validate({name.value: _parse_value(name, text)})
            except (ValidationError, ValueError):
                errors[name] = texts.gettext("Enter a valid value for %(field)s.") % {
                    "field": views.field_label(texts, name)
                }
                continue
            if parsed.birthday is not None and parsed.birthday > today:
                errors[name] = texts.gettext("Enter a date of birth in the past.")
                continue
            values[name.value] = getattr(parsed, name.value)
        expires_at = None
        if sent.expiry:
            offered_expiries = {_expiry_value(d): d for d in options_for(host, event_type)}
            if sent.expiry not in offered_expiries:
                return again(errors, wrong_expiry)
            expires_at = sdk.clock.now().time + offered_expiries[sent.expiry]
        if errors:
            return again(errors)
        try:
            sdk.events.register_user(
                person.user_id,
                host_id,
                event_type,
                event_id,
                share=share,
                data=EventUserData(**values) if values else None,
                expires_at=expires_at,
            )
        except ConsentRequired as exc:
            # The profile changed since the page was shown.
            named = exc.details.get("fields")
            missing = {DataField.parse(str(f)) for f in named} if isinstance(named, list) else set()
            return again({f: needs_value(f) for f in missing})
        except FieldNotRequested:
            changed = texts.gettext(
                "The host has changed what it asks for. Review your choice and confirm again."
            )
            return again(None, changed, keep=False)
        except InvalidExpiry:
            return again(errors, wrong_expiry)
        except DuplicateRegistration:
            return screen.redirect()
        if sent.save_profile and values:
            agent_id = sdk.identity.lookup(person.user_id)
            if agent_id is not None:
                try:
                    sdk.profiles.update(agent_id, **values)
                except DualIdError as exc:  # the registration stands either way
                    log.warning("saving entered values to the profile failed: %s", exc.code)
        return screen.redirect("registered")

    # -- the settings page ----------------------------------------------------------------
    @router.get("/", name="dualid_ui.settings", response_model=None)
    def settings(screen: Page) -> Response:
        texts = screen.texts
        person = screen.person
        assert person is not None
        agent_id = person.agent_id
        blocks: list[views.HostBlock] = []
        receipts: list[dict[str, Any]] = []
        chosen_defaults: dict[EventType, frozenset[DataField]] = {}
        host_defaults: list[dict[str, Any]] = []
        if agent_id is not None:
            try:
                shared = sdk.consent.shared(agent_id)
                registrations = sdk.events.registrations(agent_id)
                grants = sdk.consent.grants(agent_id, include_inactive=True)
                defaults = sdk.consent.defaults(agent_id)
            except UnknownAgent:
                shared, registrations, grants, defaults = [], [], [], {}
            ids = (
                {s.host_id for s in shared}
                | {r.host_id for r in registrations}
                | {g.host_id for g in grants}
                | {h for (_, h) in defaults if h}
            )
            names = host_names(ids)
            titles = {}
            for reg in registrations:
                with contextlib.suppress(DualIdError):
                    titles[(reg.host_id, reg.event_id)] = sdk.events.get(
                        reg.host_id, reg.event_id
                    ).title
            blocks = views.host_blocks(
                texts,
                [s for s in shared if s.host_id in names],
                [r for r in registrations if r.host_id in names],
                names,
                titles,
            )
            receipts = [
                views.grant_summary(texts, g, names[g.host_id][0])
                for g in sorted(grants, key=lambda g: g.created_at, reverse=True)
                if g.host_id in names
            ]
            for (etype, host_id), fields in sorted(
                defaults.items(), key=lambda kv: (kv[0][0].value, kv[0][1] or "")
            ):
                if host_id is None:
                    chosen_defaults[etype] = fields
                elif host_id in names:
                    host_defaults.append(
                        {
                            "host": names[host_id][0],
                            "type": views.event_type_label(texts, etype),
                            "fields": [
                                views.field_label(texts, f) for f in DataField if f in fields
                            ],
                        }
                    )
        default_forms = [
            {
                "type": etype.value,
                "label": views.event_type_label(texts, etype),
                "chosen": [
                    views.field_label(texts, f)
                    for f in DataField
                    if f in chosen_defaults.get(etype, frozenset())
                ],
                "fields": [
                    {
                        "value": f.value,
                        "id": f"default-{etype.value}-{f.value}".replace("_", "-"),
                        "label": views.field_label(texts, f),
                        "checked": f in chosen_defaults.get(etype, frozenset()),
                    }
                    for f in DataField
                ],
                "action": screen.url("dualid_ui.set_default", event_type=etype.value),
            }
            for etype in EventType
        ]
        return screen.render(
            "settings.html",
            known=agent_id is not None,
            hosts=blocks,
            receipts=receipts,
            default_forms=default_forms,
            host_defaults=host_defaults,
        )

    @router.get("/history", name="dualid_ui.history", response_model=None)
    def history(screen: Page) -> Response:
        person = screen.person
        assert person is not None
        lines: list[views.HistoryLine] = []
        if person.agent_id is not None:
            with contextlib.suppress(UnknownAgent):
                records = sdk.consent.history(person.agent_id)
                names = host_names({r.host_id for r in records if r.host_id})
                lines = views.history_lines(
                    screen.texts, records, {k: v[0] for k, v in names.items()}
                )
        return screen.render("history.html", lines=lines)

    # -- receipts ----------------------------------------------------------------------------
    def own_receipt(screen: Screen, grant_id: str) -> dict[str, Any]:
        person = screen.person
        assert person is not None
        if person.agent_id is None:
            raise UnknownGrant("no such grant")
        return sdk.consent.receipt(grant_id, agent_id=person.agent_id)

    @router.get("/grants/{grant_id}/receipt", name="dualid_ui.receipt", response_model=None)
    def receipt(screen: Page, grant_id: GrantId) -> Response:
        texts = screen.texts
        doc = own_receipt(screen, grant_id)
        consent = doc["consent"]
        fields = []
        for raw in consent["fields"]:
            with contextlib.suppress(ValueError):
                fields.append(views.field_label(texts, DataField.parse(raw)))
        event_type = consent["event"]["type"]
        return screen.render(
            "receipt.html",
            receipt=doc,
            fields=fields,
            event_type=views.event_type_label(texts, EventType(event_type)) if event_type else None,
            times=views.receipt_times(texts, doc),
            verified=sdk.consent.verify_receipt(doc),
            download=screen.url("dualid_ui.receipt_download", grant_id=grant_id),
        )

    @router.get(
        "/grants/{grant_id}/receipt.json", name="dualid_ui.receipt_download", response_model=None
    )
    def receipt_download(screen: Page, grant_id: GrantId) -> Response:
        doc = own_receipt(screen, grant_id)
        return Response(
            json.dumps(doc, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={
                **_PAGE_HEADERS,
                "Content-Disposition": f'attachment; filename="consent-receipt-{grant_id}.json"',
            },
        )

    # -- withdrawing ---------------------------------------------------------------------
    @dataclass
    class Withdrawal:
        """One withdrawal the person asked for: a field of a grant, an event, or a host."""

        host_id: str
        event_id: str | None = None
        grant: Grant | None = None
        field: DataField | None = None

    def withdrawal(screen: Screen, params: Mapping[str, Any]) -> Withdrawal:
        """The withdrawal named by ``params``, checked against what the person shares; an
        id that is not theirs is 404, like one that does not exist."""
        person = screen.person
        assert person is not None
        agent_id = person.agent_id
        grant_id, field_name = params.get("grant"), params.get("field")
        host_id, event_id = params.get("host"), params.get("event")
        if isinstance(grant_id, str) and isinstance(field_name, str):
            grant = own_active_grant(agent_id, grant_id)
            try:
                name = DataField(field_name)
            except ValueError:
                raise UnknownGrant("no such field in this grant") from None
            if name not in grant.fields:
                raise UnknownGrant("no such field in this grant")
            return Withdrawal(grant.host_id, grant.event_id, grant, name)
        if not isinstance(host_id, str):
            raise UnknownRegistration("nothing to withdraw")
        sdk.hosts.get(host_id)
        if isinstance(event_id, str):
            if agent_id is None or not any(
                r.host_id == host_id and r.event_id == event_id
                for r in sdk.events.registrations(agent_id)
            ):
                raise UnknownRegistration("not registered for this event")
            return Withdrawal(host_id, event_id)
        return Withdrawal(host_id)

    @router.get("/withdraw", name="dualid_ui.withdraw_confirm", response_model=None)
    def withdraw_confirm(screen: Page) -> Response:
        texts = screen.texts
        wanted = withdrawal(screen, screen.request.query_params)
        host = sdk.hosts.get(wanted.host_id)
        hidden = {
            k: v
            for k, v in screen.request.query_params.items()
            if k in {"grant", "field", "host", "event"}
        }
        if wanted.field is not None:
            label = views.field_label(texts, wanted.field)
            question = texts.gettext("Stop sharing “%(field)s” with %(host)s?") % {
                "field": label,
                "host": host.name,
            }
            consequence = texts.gettext(
                "%(host)s will no longer receive “%(field)s”. What you share with it "
                "otherwise stays as it is."
            ) % {"field": label, "host": host.name}
        elif wanted.event_id is not None:
            question = texts.gettext("Stop sharing data with %(host)s for %(event)s?") % {
                "host": host.name,
                "event": wanted.event_id,
            }
            consequence = texts.gettext(
                "%(host)s will no longer receive any of your data for this event. You stay "
                "registered. What you share for all its events stays as it is."
            ) % {"host": host.name}
        else:
            question = texts.gettext("Stop sharing everything with %(host)s?") % {"host": host.name}
            consequence = texts.gettext(
                "%(host)s will no longer receive any of your data, for any event. The data "
                "already shared with it through dualid is deleted."
            ) % {"host": host.name}
        return screen.render(
            "confirm.html",
            title=question,
            consequence=consequence,
            action=screen.url("dualid_ui.withdraw"),
            hidden=hidden,
            confirm_label=texts.gettext("Yes, stop sharing"),
            cancel_label=texts.gettext("No, keep sharing"),
            require_tick=None,
        )

    @router.post("/withdraw", name="dualid_ui.withdraw", response_model=None)
    def withdraw(screen: Page, form: Form) -> Response:
        screen.check_csrf(form)
        wanted = withdrawal(screen, form)
        person = screen.person
        assert person is not None
        agent_id = person.agent_id
        if agent_id is None:  # shares nothing with this host: nothing to withdraw
            return screen.redirect("withdrawn")
        if wanted.grant is not None and wanted.field is not None:
            grant = wanted.grant
            rest = grant.fields - {wanted.field}
            if rest:
                # The remaining fields under a grant of the same scope first, then the
                # old grant ends: the host never loses what the person keeps sharing,
                # and the values already shared stay as they were.
                successor = sdk.consent.grant(
                    agent_id,
                    grant.host_id,
                    fields=rest,
                    event_id=grant.event_id,
                    event_type=grant.event_type if grant.event_id is None else None,
                    purpose=grant.purpose,
                    expires_at=grant.expires_at,
                )
                try:
                    sdk.consent.revoke(grant.id, agent_id=agent_id)
                except DualIdError:
                    # Two transactions: undo the first so that what the host sees is
                    # unchanged, as the error page says (the old grant still covers it all).
                    with contextlib.suppress(DualIdError):
                        sdk.consent.revoke(successor.id, agent_id=agent_id)
                    raise
            else:
                sdk.consent.revoke(grant.id, agent_id=agent_id)
        elif wanted.event_id is not None:
            sdk.consent.revoke_event(agent_id, wanted.host_id, wanted.event_id)
        else:
            sdk.consent.revoke_host(agent_id, wanted.host_id)
        return screen.redirect("withdrawn")

    # -- defaults ---------------------------------------------------------------------------
    @router.post("/defaults/{event_type}", name="dualid_ui.set_default", response_model=None)
    def set_default(screen: Page, form: Form, event_type: EventType) -> Response:
        screen.check_csrf(form)
        chosen = set()
        for raw in form.getlist("share"):
            try:
                chosen.add(DataField(str(raw)))
            except ValueError:
                return screen.error(400)
        person = screen.person
        assert person is not None
        # A first-time person's agent is created in the default's own write: a refused
        # one provisions nothing.
        sdk.consent.set_default_user(person.user_id, event_type, chosen)
        return screen.redirect("default_saved")

    # -- export and erasure -----------------------------------------------------------------
    @router.post("/export", name="dualid_ui.export", response_model=None)
    def export(screen: Page, form: Form) -> Response:
        screen.check_csrf(form)
        person = screen.person
        assert person is not None
        if person.agent_id is None:
            raise UnknownAgent("nothing is held about this person")
        doc = sdk.export(person.agent_id)
        stamp = doc["exportedAt"][:10]
        return Response(
            json.dumps(doc, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={
                **_PAGE_HEADERS,
                "Content-Disposition": f'attachment; filename="my-data-{stamp}.json"',
            },
        )

    def erase_view(screen: Screen, status: int = 200, error: str | None = None) -> HTMLResponse:
        texts = screen.texts
        return screen.render(
            "confirm.html",
            status=status,
            title=texts.gettext("Erase all your data?"),
            consequence=texts.gettext(
                "Your profile, registrations, everything you share and your defaults are "
                "deleted, and no host receives your data any more. This cannot be undone. "
                "A record that an erasure happened stays in the audit log, without your data."
            ),
            action=screen.url("dualid_ui.erase"),
            hidden={},
            confirm_label=texts.gettext("Erase my data"),
            cancel_label=texts.gettext("Keep my data"),
            require_tick=texts.gettext("I understand that this erases my data for good."),
            error=error,
        )

    @router.get("/erase", name="dualid_ui.erase_confirm", response_model=None)
    def erase_confirm(screen: Page) -> Response:
        return erase_view(screen)

    @router.post("/erase", name="dualid_ui.erase", response_model=None)
    def erase(screen: Page, form: Form) -> Response:
        screen.check_csrf(form)
        if form.get("understood") != "yes":
            return erase_view(
                screen,
                422,
                screen.texts.gettext("Tick the box to confirm that you want to erase your data."),
            )
        person = screen.person
        assert person is not None
        if person.agent_id is not None:
            with contextlib.suppress(UnknownAgent):  # erased meanwhile: what was asked
                sdk.erase(person.agent_id)
        return screen.redirect("erased")

    return router
