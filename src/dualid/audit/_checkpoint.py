"""Signed checkpoints of the audit log and the proofs checked against them.

A checkpoint is a C2SP ``tlog-checkpoint`` in a C2SP ``signed-note``::

    dualid/3f2a9c0e11b2d4a7                  origin: names the log
    1204                                     entries in the log
    q0mV8u2...base64...=                     root hash
    time 2026-12-02T10:15:00.123456+00:00 4100us
    partition 0 1204 q0mV8u2...=             one line per partition
                                             (blank line ends the note's text)
    — dualid/3f2a9c0e11b2d4a7 AbCd...base64(key id || Ed25519 signature)

The root hash commits to every entry: each partition's entries form an RFC 9162 Merkle
tree (leaf ``i`` is the canonical body of the entry at position ``i + 1`` of that
partition); with one partition the root is that tree's head, so the checkpoint is a plain
``tlog-checkpoint`` any C2SP tool reads; with several, it is the head of the tree whose
leaves are the partitions' ``(index, size, root)``, and the partition lines give a verifier
everything it needs to recompute it. The ``time`` line is the AtomicClock's reading and its
error bound when the checkpoint was signed.

Everything here is a pure function of text and keys: :func:`verify_inclusion` and
:func:`verify_consistency` need no database, so a person, a host or a regulator can check a
proof with the log's public key alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dualid.crypto._generations import public_key_pem
from dualid.errors import InvalidCheckpoint

from ._merkle import leaf_hash, root_of, verify_consistency_path, verify_inclusion_path

__all__ = [
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "PartitionHead",
    "load_public_key",
    "load_public_keys",
    "public_key_pem",
    "sign_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]

_SIG_PREFIX = "\u2014 "  # C2SP signed-note: an em dash and a space start each signature line
_ED25519 = b"\x01"  # the signature type byte of an Ed25519 note key
_PARTITION_LEAF = b"dualid-audit-partition/1\x00"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidCheckpoint(f"{what} is not base64") from None
    if _b64(raw) != text:
        raise InvalidCheckpoint(f"{what} is not canonical base64")
    return raw


def log_origin(public_key: Ed25519PublicKey) -> str:
    """A log's origin line (its name): from its first checkpoint key, generation 1, so it
    stays the same when the signing key rotates."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "dualid/" + hashlib.sha256(raw).hexdigest()[:16]


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key hash of a signed-note Ed25519 key: ``SHA-256(name || 0x0A || 0x01 ||
    key)[:4]``."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + raw).digest()[:4]


def load_public_key(key: Ed25519PublicKey | str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from itself, PEM text, or a signed-note verifier key
    (``name+keyhash+base64(0x01 || key)``); :class:`InvalidCheckpoint` for anything else
    (malformed PEM, another key type, text that is not a key)."""
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, bytes):
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidCheckpoint("a public key is UTF-8 text (PEM or verifier key)") from None
    elif isinstance(key, str):
        text = key
    else:
        raise InvalidCheckpoint("a public key is an Ed25519PublicKey, PEM or a verifier key")
    if "BEGIN PUBLIC KEY" in text:
        try:
            loaded = serialization.load_pem_public_key(text.encode())
        except (ValueError, UnsupportedAlgorithm):
            # cryptography's message may quote the input; ours names only what is wrong
            raise InvalidCheckpoint("the public key is not a well-formed PEM key") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise InvalidCheckpoint("the public key is not an Ed25519 key")
        return loaded
    parts = text.strip().split("+", 2)  # the base64 key may hold "+" itself
    if len(parts) == 3:
        raw = _unb64(parts[2], "verifier key")
        if len(raw) == 33 and raw[:1] == _ED25519:
            return Ed25519PublicKey.from_public_bytes(raw[1:])
    raise InvalidCheckpoint("not an Ed25519 public key (PEM or signed-note verifier key)")


def load_public_keys(text: str | bytes) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key in ``text``: PEM blocks and signed-note verifier keys, one
    per line, as ``dualid audit public-key --all`` prints them (lines starting with ``#``
    are comments)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    keys: list[Ed25519PublicKey] = []
    block: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if block is not None:
            block.append(stripped)
            if stripped.startswith("-----END"):
                try:
                    keys.append(load_public_key("\n".join(block) + "\n"))
                except InvalidCheckpoint:  # one message for any bad block, PEM or not
                    raise InvalidCheckpoint("a PEM block is not an Ed25519 public key") from None
                block = None
        elif stripped.startswith("-----BEGIN"):
            block = [stripped]
        elif stripped and not stripped.startswith("#"):
            keys.append(load_public_key(stripped))
    if block is not None or not keys:
        raise InvalidCheckpoint("no Ed25519 public key (PEM or signed-note verifier key)")
    return keys


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The signed-note verifier key string (``name+hex key id+base64 key``)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{name}+{key_id(name, public_key).hex()}+{_b64(_ED25519 + raw)}"


@dataclass(frozen=True)
class PartitionHead:
    """One partition's Merkle tree head: its ``size`` (entries) and ``root``."""

    partition: int
    size: int
    root: bytes

    def leaf(self) -> bytes:
        packed = struct.pack(">IQ", self.partition, self.size)
        return leaf_hash(_PARTITION_LEAF + packed + self.root)


def combined_root(heads: Sequence[PartitionHead]) -> bytes:
    """The checkpoint's root: the one partition's head, or the head of the tree over all
    partitions' ``(index, size, root)``."""
    if len(heads) == 1:
        return heads[0].root
    return root_of([h.leaf() for h in heads])


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the log's size and root at one moment. ``str()`` is the C2SP
    signed-note text; :meth:`parse` reads it back."""

    origin: str
    size: int
    root: bytes
    partitions: tuple[PartitionHead, ...]
    time: datetime
    uncertainty: timedelta
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (key name, key id, signature)

    @property
    def body(self) -> str:
        """The signed text (every line up to the blank line, each ending in a newline)."""
        lines = [
            self.origin,
            str(self.size),
            _b64(self.root),
            f"time {self.time.isoformat(timespec='microseconds')} "
            f"{self.uncertainty // timedelta(microseconds=1)}us",
        ]
        lines += [f"partition {h.partition} {h.size} {_b64(h.root)}" for h in self.partitions]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        sigs = "".join(f"{_SIG_PREFIX}{n} {_b64(kid + sig)}\n" for n, kid, sig in self.signatures)
        return self.body + "\n" + sigs

    def head(self, partition: int) -> PartitionHead:
        for h in self.partitions:
            if h.partition == partition:
                return h
        raise InvalidCheckpoint("the checkpoint has no such partition", partition=partition)

    def verify_signature(self, public_key: Ed25519PublicKey | str | bytes) -> bool:
        """True when a signature of ``public_key`` under the origin's name signs this text
        and the text is internally consistent (sizes add up, the root is the partitions')."""
        key = load_public_key(public_key)
        kid = key_id(self.origin, key)
        if sum(h.size for h in self.partitions) != self.size:
            return False
        if combined_root(self.partitions) != self.root:
            return False
        for name, sig_kid, sig in self.signatures:
            if name == self.origin and sig_kid == kid:
                try:
                    key.verify(sig, self.body.encode())
                except InvalidSignature:
                    return False
                return True
        return False

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Read a checkpoint from its signed-note text; :class:`InvalidCheckpoint` when it
        is malformed (a bad signature is not malformed: see :meth:`verify_signature`)."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidCheckpoint("a checkpoint is UTF-8 text") from None
        if not isinstance(text, str):
            raise InvalidCheckpoint("a checkpoint is its signed-note text (str or bytes)")
        body, sep, sig_text = text.partition("\n\n")
        if not sep or not body or "\r" in text:
            raise InvalidCheckpoint("not a signed note (no blank line before the signatures)")
        lines = body.split("\n")
        if len(lines) < 4:
            raise InvalidCheckpoint("a checkpoint has origin, size, root and time lines")
        origin, size_text, root_text, time_line, *part_lines = lines
        if not origin or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
            raise InvalidCheckpoint("bad origin or size line")
        root = _unb64(root_text, "root hash")
        time_parts = time_line.split(" ")
        if len(time_parts) != 3 or time_parts[0] != "time" or not time_parts[2].endswith("us"):
            raise InvalidCheckpoint("bad time line")
        try:
            at = datetime.fromisoformat(time_parts[1])
            uncertainty = timedelta(microseconds=int(time_parts[2][:-2]))
        except ValueError:
            raise InvalidCheckpoint("bad time line") from None
        heads: list[PartitionHead] = []
        for line in part_lines:
            bits = line.split(" ")
            if len(bits) != 4 or bits[0] != "partition" or not (bits[1] + bits[2]).isdigit():
                raise InvalidCheckpoint("bad partition line")
            heads.append(PartitionHead(int(bits[1]), int(bits[2]), _unb64(bits[3], "root")))
        if [h.partition for h in heads] != list(range(len(heads))) or not heads:
            raise InvalidCheckpoint("partitions must be listed 0, 1, 2, ...")
        signatures: list[tuple[str, bytes, bytes]] = []
        if not sig_text.endswith("\n"):
            raise InvalidCheckpoint("signature lines end with a newline")
        for line in sig_text[:-1].split("\n"):
            if not line.startswith(_SIG_PREFIX) or line.count(" ") != 2:
                raise InvalidCheckpoint("bad signature line")
            _, name, blob = line.split(" ")
            raw = _unb64(blob, "signature")
            if len(raw) < 5:
                raise InvalidCheckpoint("bad signature line")
            signatures.append((name, raw[:4], raw[4:]))
        checkpoint = cls(
            origin, int(size_text), root, tuple(heads), at, uncertainty, tuple(signatures)
        )
        if checkpoint.body != body + "\n":
            raise InvalidCheckpoint("the checkpoint is not in canonical form")
        return checkpoint


def sign_checkpoint(
    origin: str,
    heads: Sequence[PartitionHead],
    time: datetime,
    uncertainty: timedelta,
    key: Ed25519PrivateKey,
) -> Checkpoint:
    unsigned = Checkpoint(
        origin,
        sum(h.size for h in heads),
        combined_root(heads),
        tuple(heads),
        time,
        uncertainty,
        (),
    )
    signature = key.sign(unsigned.body.encode())
    kid = key_id(origin, key.public_key())
    return Checkpoint(**{**unsigned.__dict__, "signatures": ((origin, kid, signature),)})


@dataclass(frozen=True)
class InclusionProof:
    """That the entry ``seq`` is leaf ``index`` of its ``partition``'s tree of
    ``tree_size`` leaves, as a checkpoint of that size commits to."""

    seq: int
    partition: int
    index: int
    tree_size: int
    path: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "partition": self.partition,
            "index": self.index,
            "treeSize": self.tree_size,
            "path": [_b64(p) for p in self.path],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> InclusionProof:
        try:
            ints = [doc[k] for k in ("seq", "partition", "index", "treeSize")]
            if not all(type(i) is int and i >= 0 for i in ints):
                raise InvalidCheckpoint("bad inclusion proof")
            path = tuple(_unb64(p, "proof hash") for p in doc["path"])
        except (KeyError, TypeError):
            raise InvalidCheckpoint("bad inclusion proof") from None
        return cls(ints[0], ints[1], ints[2], ints[3], path)


@dataclass(frozen=True)
class ConsistencyProof:
    """That the log of checkpoint ``old_size`` is a prefix of the log of ``new_size``:
    one RFC 9162 consistency proof per partition that grew (a partition the old checkpoint
    held empty needs none)."""

    old_size: int
    new_size: int
    paths: tuple[tuple[bytes, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "oldSize": self.old_size,
            "newSize": self.new_size,
            "paths": [[_b64(p) for p in path] for path in self.paths],
        }


_HEX = frozenset("0123456789abcdef")


def _entry_leaf(entry: Any) -> tuple[int | None, bytes, bytes] | None:
    """``(seq, body, leaf hash)`` of an :class:`~dualid.audit.AuditRecord` (or anything
    with ``body`` and ``prev_hash``): the leaf is RFC 9162's hash of the entry's chain hash,
    recomputed here from its body and the hash before it, so the body is what is proved."""
    body, prev = getattr(entry, "body", None), getattr(entry, "prev_hash", None)
    if not isinstance(body, str) or not isinstance(prev, str) or len(prev) != 64:
        return None
    try:
        chained = hashlib.sha256(bytes.fromhex(prev) + body.encode()).digest()
    except ValueError:
        return None
    seq = getattr(entry, "seq", None)
    return (seq if isinstance(seq, int) else None), body.encode(), leaf_hash(chained)


PublicKeys = Ed25519PublicKey | str | bytes | list[Ed25519PublicKey | str] | tuple[Any, ...]
"""One public key (PEM, verifier key or key), or a list of them: the log's current and
retired keys (``AuditLog.verifier_keys()``, ``dualid audit public-key --all``)."""


def _signed(checkpoint: Checkpoint, public_key: PublicKeys) -> bool:
    keys = public_key if isinstance(public_key, list | tuple) else [public_key]
    return any(checkpoint.verify_signature(k) for k in keys)


def verify_inclusion(
    entry: Any,
    proof: InclusionProof,
    checkpoint: Checkpoint,
    public_key: PublicKeys,
) -> bool:
    """Is ``entry`` in the log that ``checkpoint`` commits to, by ``proof``? Needs no
    database: the checkpoint's signature is checked with ``public_key`` (PEM, verifier key
    or key; or a list of them, one of which must have signed it).

    ``entry`` is an :class:`~dualid.audit.AuditRecord` (its ``body`` and ``prev_hash``:
    what is proved is the body, whose sequence number must be the proof's), or an entry's
    hash as 64 hex digits, as a consent receipt carries it (what is proved is that hash, at
    the proof's position; the body stays with the operator)."""
    if not _signed(checkpoint, public_key):
        return False
    try:
        head = checkpoint.head(proof.partition)
    except InvalidCheckpoint:
        return False
    if isinstance(entry, str):
        if len(entry) != 64 or not set(entry) <= _HEX:
            return False
        leaf = leaf_hash(bytes.fromhex(entry))
        return head.size == proof.tree_size and verify_inclusion_path(
            leaf, proof.index, proof.tree_size, proof.path, head.root
        )
    found = _entry_leaf(entry)
    if found is None:
        return False
    seq, body, leaf = found
    if seq not in (None, proof.seq) or not body.startswith(b'{"seq":%d,' % proof.seq):
        return False
    return head.size == proof.tree_size and verify_inclusion_path(
        leaf, proof.index, proof.tree_size, proof.path, head.root
    )


def verify_consistency(
    old: Checkpoint,
    new: Checkpoint,
    proof: ConsistencyProof,
    public_key: PublicKeys,
) -> bool:
    """Is the log ``old`` signed a prefix of the log ``new`` signed? Both checkpoints'
    signatures are checked (with ``public_key``, or a list of keys when the signing key
    rotated between them); every partition must be a prefix of its later self."""
    if not (_signed(old, public_key) and _signed(new, public_key)):
        return False
    if old.origin != new.origin or len(old.partitions) != len(new.partitions):
        return False
    if (proof.old_size, proof.new_size) != (old.size, new.size):
        return False
    paths = iter(proof.paths)
    for before, after in zip(old.partitions, new.partitions, strict=True):
        if before.size > after.size:
            return False
        if before.size == 0 or before.size == after.size:
            if before.size == after.size and before.root != after.root:
                return False
            continue
        path = next(paths, None)
        if path is None or not verify_consistency_path(
            before.size, after.size, before.root, after.root, path
        ):
            return False
    return next(paths, None) is None
