from __future__ import annotations


def test_verify_reports_progress_per_batch(memory_sdk):
    memory_sdk.identity.agents_for([f"user-{i}" for i in range(250)])
    calls: list[tuple[int, int]] = []
    report = memory_sdk.audit.verify(
        batch=100, progress=lambda done, total: calls.append((done, total))
    )
    assert report.ok
    assert report.entries == 250
    assert calls == [(100, 250), (200, 250), (250, 250)]
