"""Segment decode throughput and memory: our streaming reader next to ``zstd -d`` on the same bodies.

    python bench/decode_bench.py [--size-mb 1024] [--record-bytes 1024] [--dir DIR]

Writes a zstd backup of ``--size-mb`` MiB of uncompressed record bytes with BackupWriter (in a
child process, so its buffers do not count), then streams every segment through read_segment in
this process and reports MB/s of uncompressed body and the peak RSS growth while decoding
(target: under 100 MB). ``zstd -d`` decompresses the same compressed bodies for comparison; it
only decompresses, we also parse every record, so the ratio shows the cost of the Python side.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from restore_jobs.backup.manifest import Manifest, load_manifest
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import FOOTER, HEADER, read_segment
from restore_jobs.backup.writer import BackupWriter
from restore_jobs.storage.filesystem import FilesystemStorage

BACKUP_ID = "bench"
MB = 1 << 20


def text_pool(seed: int = 7) -> bytes:
    """About 2.5 MB of words from a small vocabulary: values cut from it compress about as well as
    JSON payloads do. The same seed always gives the same bytes."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randint(2, 10))) for _ in range(5000)]
    return b" ".join(rng.choices(words, k=400_000))


def write_backup(root: str, size_bytes: int, record_bytes: int) -> None:
    """Text-like values (see ``text_pool``)."""
    rng = random.Random(7)
    pool = text_pool()
    writer = BackupWriter(FilesystemStorage(root), BACKUP_ID, compression="zstd")
    written, offset, partitions = 0, 0, 4
    while written < size_bytes:
        start = rng.randrange(len(pool) - record_bytes)
        value = pool[start : start + record_bytes]
        key = b"customer-%d" % rng.randrange(100_000)
        record = BackupRecord(offset, 1_700_000_000_000 + offset, key, value, [("content-type", b"text/plain")])
        writer.add("bench", offset % partitions, record)
        written += len(value) + len(key)
        offset += 1
    writer.finish({"bench": partitions})


def decode_all(storage: FilesystemStorage, manifest: Manifest) -> tuple[int, int]:
    records = payload = 0
    for topic in manifest.topics:
        for part in topic.partitions:
            for seg in part.segments:
                with storage.open(seg.key) as stream:
                    for rec in read_segment(stream, seg.key):
                        records += 1
                        payload += len(rec.value or b"")
    return records, payload


def zstd_cli_seconds(storage: FilesystemStorage, manifest: Manifest, scratch: Path) -> float | None:
    """Time for ``zstd -d`` over the compressed bodies (header and footer cut off beforehand)."""
    binary = shutil.which("zstd")
    if binary is None:
        return None
    bodies = []
    for i, seg in enumerate(s for t in manifest.topics for p in t.partitions for s in p.segments):
        path = scratch / f"body-{i}.zst"
        path.write_bytes(storage.read(seg.key)[HEADER.size : -FOOTER.size])
        bodies.append(str(path))
    started = time.perf_counter()
    subprocess.run([binary, "-d", "-q", "-c", *bodies], stdout=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - started
    for body in bodies:
        Path(body).unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="uncompressed MiB of keys+values (default 1024)")
    parser.add_argument("--record-bytes", type=int, default=1024, help="value size per record (default 1024)")
    parser.add_argument("--dir", help="where to write the backup (default: a temp dir, removed afterwards)")
    args = parser.parse_args()

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="decode-bench-"))
    try:
        print(f"writing a {args.size_mb} MiB zstd backup to {root} ...", flush=True)
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=write_backup, args=(str(root), args.size_mb * MB, args.record_bytes)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            print(f"writer failed with exit code {child.exitcode}", file=sys.stderr)
            return 1
        print(f"  written in {time.perf_counter() - started:.1f}s")

        storage = FilesystemStorage(root)
        manifest = load_manifest(storage, BACKUP_ID)
        body_bytes = sum(s.uncompressed_size for t in manifest.topics for p in t.partitions for s in p.segments)
        file_bytes = sum(s.compressed_size for t in manifest.topics for p in t.partitions for s in p.segments)

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        started = time.perf_counter()
        records, _payload = decode_all(storage, manifest)
        ours = time.perf_counter() - started
        rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        assert records == manifest.record_count, (records, manifest.record_count)

        cli = zstd_cli_seconds(storage, manifest, root)

        ours_mbs = body_bytes / MB / ours
        print(f"segments:            {manifest.segment_count} ({file_bytes / MB:.0f} MiB on disk)")
        print(f"records:             {records}")
        print(f"uncompressed body:   {body_bytes / MB:.0f} MiB")
        print(f"read_segment:        {ours:.2f}s  {ours_mbs:.0f} MB/s (decompress + parse every record)")
        if cli is None:
            print("zstd -d:             skipped: no zstd binary on PATH (apt-get install zstd)")
        else:
            cli_mbs = body_bytes / MB / cli
            print(f"zstd -d:             {cli:.2f}s  {cli_mbs:.0f} MB/s (decompress only)")
            print(f"ratio (ours/zstd):   {ours_mbs / cli_mbs:.2f}")
        verdict = "ok" if rss_growth_mb < 100 else "ABOVE TARGET"
        print(f"peak RSS growth:     {rss_growth_mb:.1f} MB while decoding (target < 100 MB: {verdict})")
        return 0
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
