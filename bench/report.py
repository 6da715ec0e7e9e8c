"""The outputs of a run: the printed table, <date>.json, <date>.png and <date>.md (the README's
performance section), from the results bench.targets built.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.scenarios import OPERATIONS
from bench.stats import ratio
from bench.targets import LABELS, THROUGHPUT_TARGET, WRITE_TARGET, WRITE_TARGET_OPS


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _x(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f}x"


def _rows(r: dict[str, Any]) -> list[list[str]]:
    floors = r["floors"]
    rows: list[list[str]] = []

    def add(label: str, f: dict[str, Any], floor: str, ratios: dict[str, float] | None) -> None:
        rx = ratios or {}
        rows.append(
            [
                label,
                str(f.get("clients", f.get("writers", 1))),
                _num(f["median_ms"]),
                _num(f["p99_ms"]),
                _num(f["rps"], 1),
                _num(f.get("server_cpu_ms_per_req", f.get("cpu_ms_per_write"))),
                floor,
                _x(rx.get("median")),
                _x(rx.get("p99")),
                _x(rx.get("rps")),
                _x(rx.get("server_cpu")),
            ]
        )

    add("floor: bare Starlette GET", floors["bare_seq"], "", None)
    add("floor: bare, the list's bytes", floors["bare_list"], "", None)
    add("floor: bare, /api/settings' bytes", floors["bare_settings"], "", None)
    add("floor: bare, the catalog's bytes", floors["bare_catalog"], "", None)
    add("floor: bare Starlette GET", floors["bare_concurrent"], "", None)
    durable = floors["durable_write"]
    add(f"floor: durable write {durable['bytes']:,} B", {**durable, "clients": "-"}, "", None)
    add("floor: bare PUT + durable write", {**floors["write_floor"], "clients": 1}, "", None)
    add(
        "bare GET + durable write, added",
        {**floors["summed_write_floor"], "clients": "-"},
        "",
        None,
    )
    for name, f in r["operations"].items():
        add(LABELS[name], f, f["floor"], f["ratios"])
    for workers, f in r["writers"].items():
        add(f"{f['writers']} writers, {workers} worker(s)", f, f["floor"], f["ratios"])
    return rows


HEADER = [
    "operation",
    "clients",
    "median ms",
    "p99 ms",
    "req/s",
    "CPU ms/req",
    "floor",
    "x median",
    "x p99",
    "x req/s",
    "x CPU",
]


def table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for size_key, r in results["results"].items():
        rows = _rows(r)
        widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]

        def fmt(row: list[str], widths: list[int] = widths) -> str:
            return "  ".join(
                cell.ljust(w) if i in (0, 6) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )

        lines.append("")
        lines.append(
            f"== {int(size_key):,} MCP servers (settings.json {r['document_bytes']:,} bytes; "
            f"GET one answers {r['get_one_bytes']:,} bytes) =="
        )
        lines.append(fmt(HEADER))
        lines.append(fmt(["-" * w for w in widths]))
        lines.extend(fmt(row) for row in rows)
    lines.append("")
    lines.append("== targets ==")
    for t in results["targets"]:
        measured = "" if t["measured"] is None else f"{t['measured']:.2f}x  "
        status = "MET " if t["met"] else "PASS" if t["pass"] else "MISS"
        lines.append(f"{status}  {t['size']:>6,}  {t['label']}: {measured}({t['detail']})")
    summary = results["summary"]
    lines.append("")
    missed = [t for t in results["targets"] if not t["pass"]]
    if missed:
        lines.append(f"!! MISSED {len(missed)} of {summary['targets']} targets:")
        for t in missed:
            measured = "" if t["measured"] is None else f" measured {t['measured']:.2f}x,"
            lines.append(f"!!   {t['size']:,} servers: {t['label']}:{measured} {t['detail']}")
    elif summary["unconfirmed"]:
        lines.append(
            f"all {summary['targets']} targets passed in this run; {summary['unconfirmed']} "
            "of them did not pass (or were not measured) in the previous run: run again"
        )
    else:
        lines.append(f"all {summary['targets']} targets met in this run and the previous one")
    return "\n".join(lines)


# --- the files ----------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing figures are null."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(_clean(results), indent=2) + "\n")


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    sizes = [int(s) for s in results["results"]]
    head = "| | " + " | ".join(f"{s:,} servers" for s in sizes) + " |"
    rule = "| --- |" + " --- |" * len(sizes)
    by_id: dict[str, dict[int, dict[str, Any]]] = {}
    labels: dict[str, str] = {}
    for t in results["targets"]:
        by_id.setdefault(t["id"], {})[t["size"]] = t
        labels[t["id"]] = t["label"]

    def cell(t: dict[str, Any] | None) -> str:
        if t is None:
            return "-"
        status = "met" if t["met"] else "pass (once)" if t["pass"] else "**MISS**"
        return status if t["measured"] is None else f"{t['measured']:.2f}x {status}"

    out = [
        "## Performance",
        "",
        f"Measured on {results['date']} ({machine['cpu_model']}, {machine['logical_cpus']} CPUs, "
        f"Python {machine['python']}, {machine['work_dir_filesystem']['fstype']}; "
        f"{results['mode']} run), one settings document of N MCP servers with 3 encrypted env "
        "secrets each. Ratios are to floors measured in the same run: a bare Starlette route "
        "answering the same bytes under the same uvicorn settings, and for writes the same "
        "bare app's PUT, which durably writes (temp file, fsync, rename, fsync of the folder) "
        "the bytes of the real settings.json.",
        "",
        "| Target | " + " | ".join(f"{s:,} servers" for s in sizes) + " |",
        rule,
    ]
    for target_id, per_size in by_id.items():
        out.append(
            f"| {labels[target_id]} | " + " | ".join(cell(per_size.get(s)) for s in sizes) + " |"
        )
    implied = [t for t in results["targets"] if t["id"] == "get_one_throughput"]
    out += [
        "",
        "GET one server, server CPU per request as a fraction of bare Starlette's (the "
        "throughput ratio if the server, not the load client, were the bottleneck): "
        + ", ".join(
            f"{t['server_cpu_implied_ratio']:.2f}x at {t['size']:,}"
            for t in implied
            if not math.isnan(t["server_cpu_implied_ratio"])
        )
        + ".",
    ]
    out += [
        "",
        "Median / p99 latency in ms, and the median in times its floor (bare Starlette serving "
        "the same bytes for reads, bare Starlette's PUT with its durable write for writes):",
        "",
        head.replace("| |", "| Operation |", 1),
        rule,
    ]
    for name in results["results"][str(sizes[0])]["operations"]:
        cells = []
        for s in sizes:
            f = results["results"][str(s)]["operations"][name]
            cells.append(f"{f['median_ms']:.2f} / {f['p99_ms']:.2f} ({f['ratios']['median']:.2f}x)")
        out.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    for workers in results["results"][str(sizes[0])]["writers"]:
        cells = []
        for s in sizes:
            w = results["results"][str(s)]["writers"][workers]
            cells.append(f"{w['median_ms']:.2f} / {w['p99_ms']:.2f} ({w['rps']:.0f} req/s)")
        label = f"{w['writers']} writers with If-Match, {workers} worker(s)"
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    for name, label in (
        ("bare_seq", "floor: bare Starlette GET one server"),
        ("bare_list", "floor: bare Starlette, the list's bytes"),
        ("bare_settings", "floor: bare Starlette, GET /api/settings' bytes"),
        ("bare_catalog", "floor: bare Starlette, the catalog's bytes"),
        ("durable_write", "floor: durable write of settings.json"),
        ("write_floor", "floor: bare Starlette PUT one server + durable write"),
    ):
        cells = [
            f"{results['results'][str(s)]['floors'][name]['median_ms']:.2f} / "
            f"{results['results'][str(s)]['floors'][name]['p99_ms']:.2f}"
            for s in sizes
        ]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    starts = [f"{results['results'][str(s)]['server_start_s']:.2f}" for s in sizes]
    rss = [f"{results['results'][str(s)]['server_rss_mib']:.0f}" for s in sizes]
    parsed = [f"{results['results'][str(s)]['parsed_document_mib']:.1f}" for s in sizes]
    out += [
        "| start-up of one worker, s | " + " | ".join(starts) + " |",
        "| server RSS, MiB | " + " | ".join(rss) + " |",
        "| the parsed document, MiB | " + " | ".join(parsed) + " |",
        "",
        f"An empty server's RSS (after serving every measured request, then emptied): "
        f"{results['empty_server_rss_mib']:.0f} MiB. A target counts as "
        "met when it passes in two consecutive runs"
        + (f" (the previous: {results['previous_run']})." if results["previous_run"] else "."),
    ]
    out += [
        "",
        "Reproduce with `make bench` (`make bench BENCH_ARGS=--quick` for a short run).",
        "",
    ]
    return "\n".join(out)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(s) for s in results["results"]]
    rs = [results["results"][str(s)] for s in sizes]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(15, 6.5), gridspec_kw={"width_ratios": [3, 2]})

    for name, label, _make, _kind in OPERATIONS:
        ax.plot(sizes, [r["operations"][name]["median_ms"] for r in rs], marker="o", label=label)
    clients = rs[0]["operations"]["get_one_concurrent"]["clients"]
    ax.plot(
        sizes,
        [r["operations"]["get_one_concurrent"]["median_ms"] for r in rs],
        marker="o",
        label=f"GET one server, {clients} clients",
    )
    for workers in rs[0]["writers"]:
        w0 = rs[0]["writers"][workers]
        ax.plot(
            sizes,
            [r["writers"][workers]["median_ms"] for r in rs],
            marker="s",
            label=f"{w0['writers']} writers, {workers} worker(s)",
        )
    floors = (
        ("bare_seq", "floor: bare Starlette GET", "k", ":"),
        ("durable_write", "floor: durable write", "0.4", "--"),
        ("write_floor", "floor: bare PUT + durable write", "k", "--"),
    )
    for key, label, color, style in floors:
        ax.plot(
            sizes,
            [r["floors"][key]["median_ms"] for r in rs],
            color=color,
            linestyle=style,
            linewidth=2,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MCP servers in the document")
    ax.set_ylabel("median latency (ms)")
    ax.set_title("Median latency against document size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")

    bx.plot(
        sizes,
        [r["operations"]["get_one_concurrent"]["ratios"]["rps"] for r in rs],
        marker="o",
        label="GET one req/s / bare req/s",
    )
    bx.plot(
        sizes,
        [
            ratio(
                r["floors"]["bare_concurrent"]["server_cpu_ms_per_req"],
                r["operations"]["get_one_concurrent"]["server_cpu_ms_per_req"],
            )
            for r in rs
        ],
        marker="o",
        color="C0",
        linestyle="--",
        alpha=0.6,
        label="GET one: bare server CPU / server CPU (server-bound req/s ratio)",
    )
    bx.axhline(THROUGHPUT_TARGET, color="C0", linestyle=":", label=f"target >= {THROUGHPUT_TARGET}")
    for i, op in enumerate(WRITE_TARGET_OPS, start=1):
        bx.plot(
            sizes,
            [r["operations"][op]["ratios"]["median"] for r in rs],
            marker="s",
            color=f"C{i}",
            label=f"{LABELS[op]} median / write floor",
        )
    bx.axhline(WRITE_TARGET, color="C1", linestyle=":", label=f"target <= {WRITE_TARGET}")
    bx.set_xscale("log")
    bx.set_xlabel("MCP servers in the document")
    bx.set_ylabel("ratio to floor")
    bx.set_title("Targets")
    bx.grid(True, which="both", alpha=0.3)
    bx.legend(fontsize=8)
    bx.set_ylim(bottom=0)

    fig.suptitle(
        f"agent-server bench {results['date']} ({results['mode']}): "
        f"{results['summary']['passed']}/{results['summary']['targets']} targets met"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(results: dict[str, Any], out_dir: Path, date: str) -> list[Path]:
    json_path = out_dir / f"{date}.json"
    md_path = out_dir / f"{date}.md"
    png_path = out_dir / f"{date}.png"
    write_json(results, json_path)
    md_path.write_text(markdown(results))
    written = [json_path, md_path]
    try:
        plot(results, png_path)
        written.append(png_path)
    except ImportError as exc:
        print(f"no plot ({exc}); install the bench extras: pip install -e '.[bench]'")
    return written
