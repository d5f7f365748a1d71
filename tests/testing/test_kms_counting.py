"""``dualid.testing.counting``: the KMS API calls a boto3 client sends, against moto's
server (see tests/kms.py)."""

from __future__ import annotations

from typing import Any

import pytest

from dualid import DualId
from dualid.errors import InvalidInput
from dualid.integration.aws_kms import AwsKmsKeyProvider
from dualid.testing import FakeClock, counting


def test_it_counts_each_operation_inside_the_block_only(kms_client: Any, kms_key: str) -> None:
    kms_client.encrypt(KeyId=kms_key, Plaintext=b"before")  # not counted
    with counting(kms_client) as calls:
        blob = kms_client.encrypt(KeyId=kms_key, Plaintext=b"k" * 32)["CiphertextBlob"]
        kms_client.decrypt(CiphertextBlob=blob)
        kms_client.decrypt(CiphertextBlob=blob)
    kms_client.encrypt(KeyId=kms_key, Plaintext=b"after")  # not counted either
    assert calls == {"Encrypt": 1, "Decrypt": 2}


def test_nested_blocks_count_independently(kms_client: Any, kms_key: str) -> None:
    with counting(kms_client) as outer:
        kms_client.describe_key(KeyId=kms_key)
        with counting(kms_client) as inner:
            kms_client.describe_key(KeyId=kms_key)
    assert outer == {"DescribeKey": 2}
    assert inner == {"DescribeKey": 1}


def test_it_counts_what_the_provider_costs(kms_client: Any, kms_key: str) -> None:
    provider = AwsKmsKeyProvider(kms_key, client=kms_client)
    with (
        DualId.open("sqlite://", keys=provider, clock=FakeClock()) as sdk,
        counting(kms_client) as calls,
    ):
        sdk.identity.agents_for([f"user-{i}" for i in range(20)])
    assert calls == {"GenerateDataKey": 1}  # one batch, one request


def test_it_refuses_what_is_not_a_boto3_client() -> None:
    with pytest.raises(InvalidInput, match="boto3 KMS client"), counting(object()):
        pass  # pragma: no cover
