"""Walk-forward windows and the hold-out split.

`--walk-forward train=90d,test=30d[,step=30d][,anchored|rolling]`: the first train window
starts at the first bar; each test window follows its train window; windows advance by
`step` (default: the test length). Rolling windows keep the train length; anchored ones keep
the train start at the first bar and grow. Only windows whose test ends within the selection
period are made. `--holdout 20%` (or `--holdout 60d`) keeps the last part of the data out of
every selection: it is scored once, at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from trade.core import InputError
from trade.play import parse_duration_ms


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step: train on [train_start, train_end), test on [test_start, test_end)."""

    train_start: int
    train_end: int
    test_start: int
    test_end: int


@dataclass(frozen=True, slots=True)
class WalkForward:
    """A walk-forward scheme (module docstring): train and test lengths, the step between
    windows (all in ms), and whether the train windows are anchored at the first bar.
    `parse` reads the `--walk-forward` text, `windows` lays the windows over a period."""

    train_ms: int
    test_ms: int
    step_ms: int
    anchored: bool = False

    @classmethod
    def parse(cls, text: str) -> WalkForward:
        """`train=90d,test=30d[,step=15d][,anchored|rolling]` (step defaults to the test
        length, rolling is the default); InputError on an unknown part, an unreadable or
        non-positive duration, or a missing train= or test=."""
        fields: dict[str, int] = {}
        anchored = False
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if part in ("anchored", "rolling"):
                anchored = part == "anchored"
                continue
            key, eq, value = part.partition("=")
            if not eq or key.strip() not in ("train", "test", "step"):
                raise InputError(f"--walk-forward {text!r}: cannot read {part!r} (expected "
                                 "train=DUR, test=DUR, step=DUR, anchored or rolling)")
            try:
                ms = parse_duration_ms(value.strip())
            except (ValueError, KeyError) as exc:
                raise InputError(f"--walk-forward {text!r}: {key}: {exc}") from None
            if ms <= 0:
                raise InputError(f"--walk-forward {text!r}: {key} must be > 0")
            fields[key.strip()] = ms
        if "train" not in fields or "test" not in fields:
            raise InputError(f"--walk-forward {text!r}: needs both train= and test=")
        return cls(fields["train"], fields["test"], fields.get("step", fields["test"]), anchored)

    def windows(self, start_ms: int, end_ms: int) -> tuple[Window, ...]:
        """The windows inside [start_ms, end_ms); InputError when not even one fits."""
        out: list[Window] = []
        k = 0
        while True:
            test_start = start_ms + self.train_ms + k * self.step_ms
            test_end = test_start + self.test_ms
            if test_end > end_ms:
                break
            train_start = start_ms if self.anchored else test_start - self.train_ms
            out.append(Window(train_start, test_start, test_start, test_end))
            k += 1
        if not out:
            days = (end_ms - start_ms) / 86_400_000
            raise InputError(f"walk-forward train {self.train_ms / 86_400_000:g}d + test "
                             f"{self.test_ms / 86_400_000:g}d does not fit in the "
                             f"{days:g} days of selection data")
        return tuple(out)


def holdout_start(text: str, start_ms: int, end_ms: int) -> int:
    """The first ms of the hold-out: `20%` of the span, or a duration (`60d`) from the end.

    Aligned down to a whole minute; InputError when it leaves no data on either side.

    Parameters
    ----------
    text : str
        A percentage strictly between 0% and 100%, or a duration such as ``60d``.
    start_ms : int
        The first bar's open time (ms).
    end_ms : int
        The end of the data (ms, exclusive).

    Returns
    -------
    int
        The hold-out's start: bars at or after it are held out.

    Raises
    ------
    InputError
        The text is neither a percentage nor a duration, the percentage is out of range, or
        the cut leaves nothing before or after it.
    """
    t = text.strip()
    try:
        if t.endswith("%"):
            frac = float(t[:-1]) / 100.0
            if not 0.0 < frac < 1.0:
                raise InputError(f"--holdout {text!r}: must be between 0% and 100%")
            cut = end_ms - int((end_ms - start_ms) * frac)
        else:
            cut = end_ms - parse_duration_ms(t)
    except (ValueError, KeyError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--holdout {text!r}: expected a percentage (20%) or a duration "
                         "(60d)") from None
    cut -= (cut - start_ms) % 60_000
    if not start_ms < cut < end_ms:
        raise InputError(f"--holdout {text!r} leaves no data to select on or to hold out")
    return cut
