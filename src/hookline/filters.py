"""Payload filters (beyond Svix): a JMESPath expression an endpoint's payloads must satisfy.

The expression is evaluated against the message payload; the endpoint receives the
message when the result is truthy (JMESPath truthiness: not false, null, empty or 0-length).
Example: ``data.total >= `100` && data.currency == 'EUR'``.

Filters come from API clients, so both their shape and their cost are bounded. When saved:
at most ``MAX_FILTER_LENGTH`` characters and ``MAX_FILTER_DEPTH`` levels of syntax tree.
When run: a budget of work and a deadline (``evaluate``). JMESPath can build values far
larger than the payload (``a | [@,@][] | [@,@][] ...`` doubles a list per step, and
``[@,@] | [@,@] ...`` doubles a shared tree that ``to_string`` then writes out in full),
so the budget charges every node visited and the full (tree) size of every value a node
builds, before anything can walk it. A filter past its budget is no match, and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jmespath
import orjson
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode

MAX_FILTER_LENGTH = 512
MAX_FILTER_DEPTH = 32
EVAL_BUDGET = 1_000_000  # units: a node visited, or a JSON value (or 8 characters) built
EVAL_DEADLINE_S = 0.25
LOG_EVERY_S = 60.0

log = logging.getLogger(__name__)

# Nodes whose result is a new value (the others return a part of their input).
_BUILDERS = frozenset(
    {
        "flatten",
        "projection",
        "value_projection",
        "filter_projection",
        "multi_select_list",
        "multi_select_dict",
        "slice",
        "function_expression",
    }
)


class InvalidFilter(ValueError):
    """The expression does not parse, or is past the caps."""


class FilterOverrun(Exception):
    """The evaluation went past its budget or its deadline."""


def compile_filter(expression: str) -> ParsedResult:
    """What an endpoint may save: ``InvalidFilter`` if it does not parse or is past the caps."""
    if not expression.strip() or len(expression) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"a filter is 1 to {MAX_FILTER_LENGTH} characters")
    return _parse(expression)


@lru_cache(maxsize=1024)
def _parse(expression: str) -> ParsedResult:
    """No length cap here: a longer filter saved before the cap still runs."""
    try:
        parsed = jmespath.compile(expression)
    except JMESPathError as exc:
        raise InvalidFilter(f"invalid filter expression: {exc}") from None
    except RecursionError:  # the parser recurses once per nesting level
        parsed = None
    if parsed is None or _depth(parsed.parsed) > MAX_FILTER_DEPTH:
        raise InvalidFilter(f"a filter nests at most {MAX_FILTER_DEPTH} levels deep")
    return parsed


def _depth(root: _TreeNode) -> int:
    """Depth of the syntax tree, without recursion (the tree may be deep)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.get("children", ()) if isinstance(c, dict))
    return deepest


class _BoundedInterpreter(TreeInterpreter):
    """jmespath's own interpreter, charging each visit and each value built."""

    def __init__(self, budget: int, deadline_s: float) -> None:
        super().__init__()
        self._left = budget
        self._deadline = time.monotonic() + deadline_s
        self._visits = 0
        self._sizes: dict[int, int] = {}  # id -> tree size of values already measured
        self._alive: list[Any] = []  # keeps measured values alive, so ids stay theirs

    def visit(self, node: _TreeNode, *args: Any, **kwargs: Any) -> Any:
        self._left -= 1
        self._visits += 1
        if self._left < 0 or not self._visits & 31:
            self._check()
        result = super().visit(node, *args, **kwargs)
        if node["type"] in _BUILDERS and isinstance(result, list | dict | str):
            self._charge_size(result)
        return result

    def _check(self) -> None:
        if self._left < 0:
            raise FilterOverrun("the filter went past its work budget")
        if time.monotonic() > self._deadline:
            raise FilterOverrun("the filter went past its time limit")

    def _charge_size(self, value: Any) -> None:
        """Charge the tree size of a value a node built: values, and characters / 8.

        Shared parts count each time they occur, but are walked once (sizes are
        memoised by identity). Each container is charged before its children are
        walked, so walking stops as soon as the budget is gone.
        """
        if not isinstance(value, list | dict):
            self._left -= _leaf(value)
            self._check()
            return
        known = self._sizes.get(id(value))
        if known is not None:
            self._left -= known
            self._check()
            return
        stack: list[tuple[Any, int]] = [(value, 0)]  # (container, own size once walked)
        while stack:
            item, own = stack.pop()
            children = list(item.values()) if isinstance(item, dict) else item
            if own:
                parts = sum(self._sizes[id(c)] for c in children if isinstance(c, list | dict))
                self._sizes[id(item)] = own + parts
                self._alive.append(item)
                continue
            if id(item) in self._sizes:  # a part met before: it counts again in full
                self._left -= self._sizes[id(item)]
                self._check()
                continue
            self._left -= 1 + len(children)  # before the walk: a huge list stops here
            self._check()
            extra = sum(len(c) // 8 for c in children if isinstance(c, str))
            if isinstance(item, dict):
                extra += sum(_leaf(k) for k in item)
            self._left -= extra
            self._check()
            stack.append((item, 1 + len(children) + extra))
            stack.extend((c, 0) for c in children if isinstance(c, list | dict))


def _leaf(value: Any) -> int:
    return 1 + len(value) // 8 if isinstance(value, str) else 1


def evaluate(
    expression: str,
    document: Any,
    *,
    budget: int = EVAL_BUDGET,
    deadline_s: float = EVAL_DEADLINE_S,
) -> Any:
    """The expression's value; ``FilterOverrun`` past the budget or the deadline."""
    parsed = _parse(expression).parsed
    return _BoundedInterpreter(budget, deadline_s).visit(parsed, document)


class EvaluationFailed(Exception):
    """The expression went past its budget, or could not be applied to the document."""


def value_of(expression: str, document: Any) -> Any:
    """The expression's value, within the same budget and deadline as a filter, for uses
    that need the value itself (an action's arguments); ``EvaluationFailed`` otherwise."""
    try:
        return evaluate(expression, document)
    except (InvalidFilter, FilterOverrun, RecursionError, MemoryError) as exc:
        raise EvaluationFailed(str(exc) or type(exc).__name__) from None
    except (JMESPathError, TypeError, ValueError) as exc:
        raise EvaluationFailed(str(exc) or type(exc).__name__) from None


def matches(expression: str, payload: Any) -> bool:
    """False, never an exception, when the expression cannot be applied to this payload;
    an overrun or an error is logged (at most once a minute per expression)."""
    try:
        result = evaluate(expression, payload)
    except (InvalidFilter, FilterOverrun, RecursionError, MemoryError) as exc:
        _log_failure(expression, exc)
        return False
    except (JMESPathError, TypeError, ValueError) as exc:  # the payload does not fit
        _log_failure(expression, exc)
        return False
    if result is None or result is False:
        return False
    return not (isinstance(result, str | list | dict) and len(result) == 0)


def verdicts(expressions: Iterable[str], payload: bytes | None) -> dict[str, bool]:
    """Each expression's outcome on one payload, parsed once: run ahead of the write."""
    document = orjson.loads(payload or b"null")
    return {expression: matches(expression, document) for expression in expressions}


def judge_each(expression: str, payloads: Iterable[tuple[str, bytes | None]]) -> dict[str, bool]:
    """One expression on many payloads, by id (a payload dropped by retention: False)."""
    return {
        key: payload is not None and matches(expression, orjson.loads(payload))
        for key, payload in payloads
    }


_logged: OrderedDict[str, tuple[float, int]] = OrderedDict()  # expression -> (at, skipped)
_logged_lock = threading.Lock()


def _log_failure(expression: str, exc: BaseException) -> None:
    now = time.monotonic()
    with _logged_lock:
        at, skipped = _logged.get(expression, (float("-inf"), 0))
        if now - at < LOG_EVERY_S:
            _logged[expression] = (at, skipped + 1)
            return
        _logged[expression] = (now, 0)
        _logged.move_to_end(expression)
        while len(_logged) > 1024:
            _logged.popitem(last=False)
    log.warning(
        "payload filter counted as no match (%s; %d more since the last report): %s",
        str(exc) or type(exc).__name__,
        skipped,
        expression,
    )
