"""Figures aggregated over the rounds of one side (medians, ranges, worst
cases), and the call-budget figures of a phase's request timeline."""

from __future__ import annotations

import bisect
import collections
import statistics
from typing import Any, Callable, Iterable


def median(values: Iterable[float]) -> float | None:
    """The median, None for no values."""
    values = list(values)
    return statistics.median(values) if values else None


class Rounds:
    """The rounds of one side (each a worker's output): the figures of a
    phase over the rounds that finished.

    Args:
        rounds: the workers' outputs
        non_api_ops: emulator operations that are not API calls (storage
            transfers...), left out of ``api_ops``
    """

    def __init__(self, rounds: list | None, non_api_ops: Iterable[str] = ()) -> None:
        self.all = list(rounds or [])
        self.ok = [r for r in self.all if not r.get("error")]
        self.failed = [r for r in self.all if r.get("error")]
        self.non_api_ops = set(non_api_ops)

    def __bool__(self) -> bool:
        return bool(self.ok)

    def values(self, *path: str) -> list:
        """``r[path[0]][path[1]]...`` of every finished round that has it."""
        out = []
        for r in self.ok:
            value: Any = r
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                out.append(value)
        return out

    def phase(self, name: str | None) -> dict | None:
        """A phase: median ``seconds`` (``all_seconds`` per round), the first
        round's requests (``all_requests`` per round), the largest peak RSS
        and growth, the median RSS at its start."""
        items = self.values("phases", name) if name else []
        if not items:
            return None
        out = dict(items[0])
        out["all_seconds"] = [i["seconds"] for i in items]
        out["seconds"] = statistics.median(out["all_seconds"])
        out["all_requests"] = [i["requests"] for i in items]
        out["rss_peak_mb"] = max(i["rss_peak_mb"] for i in items)
        out["rss_growth_mb"] = max(i["rss_growth_mb"] for i in items)
        out["rss_start_median_mb"] = statistics.median(i["rss_start_mb"] for i in items)
        return out

    def server(self, name: str | None) -> dict | None:
        """The emulator's counts of a phase: the first round's operations and
        statuses, ``api_ops``, and per round (``all_*``) or worst (``*_max``)
        the 429s, calls over the budget and peak calls in a window."""
        items = self.values("server", name) if name else []
        if not items:
            return None
        out = dict(items[0])
        out["api_ops"] = sum(n for op, n in (out.get("operations") or {}).items() if op not in self.non_api_ops)
        out["all_429"] = [(i.get("statuses") or {}).get("429", 0) for i in items]
        out["all_over_limit"] = [i.get("over_limit", 0) for i in items]
        out["peak_max"] = max(i.get("peak_calls_in_window", 0) for i in items)
        out["over_limit_max"] = max(out["all_over_limit"])
        return out

    def budget(self, phase: str, key: str) -> list:
        """One call-budget figure (:func:`budget_figures`) per round."""
        return self.values("budget", phase, key)

    def cpu(self, phase: str, who: str) -> float | None:
        """Median CPU seconds of the ``client`` or the ``server`` in a phase."""
        return median(self.values("cpu", phase, who))

    def field(self, key: str) -> list:
        """``r[key]`` per finished round (None where missing)."""
        return [r.get(key) for r in self.ok]

    def breakdown(self, phase: str) -> dict[str, tuple[float, int]]:
        """``{label: (median seconds, calls in the first round)}``."""
        per_label: dict = collections.OrderedDict()
        for r in self.ok:
            for label, seconds, calls in (r.get("breakdown") or {}).get(phase) or []:
                per_label.setdefault(label, []).append((seconds, calls))
        return {label: (statistics.median(v[0] for v in values), values[0][1]) for label, values in per_label.items()}

    def sum_phases(self, phases: Iterable[str]) -> dict | None:
        """Median over the rounds of several phases' seconds added up."""
        phases = list(phases)
        sums = [
            sum(r["phases"][p]["seconds"] for p in phases)
            for r in self.ok
            if all(p in (r.get("phases") or {}) for p in phases)
        ]
        return {"seconds": statistics.median(sums), "all_seconds": sums} if sums else None


def budget_figures(
    calls: list,
    max_calls: int,
    window: float,
    phase_seconds: float,
    is_api: Callable[[str], bool] = lambda key: True,
    item_call: str | None = None,
    step: float = 0.01,
) -> dict:
    """Call-budget figures of one phase from its timeline (``[start, end,
    status, "METHOD /path"]``, seconds from the phase start). Accepted calls
    are the API calls not refused with a 429 (nor unanswered).

    - ``phase_rate``: accepted calls / the phase's wall time (a fresh window
      lets ``max_calls`` through at once, so it can exceed the budget);
      ``span_rate``: over the first call's start to the last call's end;
    - ``steady_fraction``: the mean number of accepted calls starting in a
      sliding window, over every position from the first call's start to
      ``window`` before the last call's start, / ``max_calls`` (None when
      the calls span less than a window);
    - ``lower_bound``: the least time the budget allows between the first
      and the last accepted call's start (``window * floor((calls - 1) /
      max_calls)``), ``pacing_efficiency`` that over the actual span;
    - ``window_starts``: when call ``k * max_calls + 1`` started, after the
      first; ``pacer_delay_ms_*``: how long after the budget allowed it a
      call started (the end of the call it replaces + ``window``);
    - ``first_task_gap``: the client's own work between the set-up calls and
      the first ``item_call``; ``task_post_ms_*``: the ``item_call``
      durations.
    """
    api = [c for c in calls if is_api(c[3])]
    accepted = sorted(c for c in api if c[2] is not None and c[2] != 429)
    out: dict[str, Any] = {
        "calls": len(api),
        "accepted": len(accepted),
        "status_429": sum(1 for c in api if c[2] == 429),
        "budget_rate": max_calls / float(window),
    }
    if not accepted:
        return out
    starts = [c[0] for c in accepted]
    ends = sorted(c[1] for c in accepted)
    first, last_start, last_end, n = starts[0], starts[-1], ends[-1], len(starts)
    out.update(
        first_start=first,
        last_start=last_start,
        last_end=last_end,
        phase_rate=n / phase_seconds if phase_seconds else None,
        span_rate=n / (last_end - first) if last_end > first else None,
        lower_bound=window * ((n - 1) // max_calls),
        start_span=last_start - first,
        window_starts=[starts[k] - first for k in range(max_calls, n, max_calls)],
    )
    out["phase_fraction"] = out["phase_rate"] / out["budget_rate"] if out["phase_rate"] is not None else None
    if out["window_starts"]:
        out["last_window_seconds"] = last_start - starts[(n - 1) // max_calls * max_calls]
        delays = [starts[k + max_calls] - (ends[k] + window) for k in range(n - max_calls)]
        out["pacer_delay_ms_median"] = 1000 * statistics.median(delays)
        out["pacer_delay_ms_mean"] = 1000 * statistics.mean(delays)
    span = out["start_span"]
    out["pacing_efficiency"] = out["lower_bound"] / span if out["lower_bound"] and span else None
    out["steady_fraction"] = None
    if span > window:
        counts = []
        t = first
        while t <= last_start - window:
            counts.append(bisect.bisect_left(starts, t + window) - bisect.bisect_left(starts, t))
            t += step
        out["steady_fraction"] = statistics.mean(counts) / max_calls
    items = [c for c in accepted if item_call and c[3].endswith(item_call)]
    if items:
        before = [c[1] for c in accepted if c[0] < items[0][0]]
        out["first_task_gap"] = items[0][0] - max(before) if before else None
        durations = sorted((c[1] - c[0]) * 1000 for c in items)
        out["task_post_ms_median"] = statistics.median(durations)
        out["task_post_ms_p90"] = durations[int(0.9 * (len(durations) - 1))]
    return out
