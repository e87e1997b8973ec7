"""Policy trace strings of every Calico generation, normalised to format (b) (calico.md §1.3).

Real flow logs carry three generations of ``policies`` entries:

* (a) ``idx|tier|name|action`` (Enterprise ≤ 3.16): the rule index becomes -2 (unknown);
* (b) ``idx|tier|name|action|rule`` (Enterprise ≥ 3.17, OSS 3.30/3.31): kept as is, with ``-``
  as the rule index read as -2;
* (c) kind-prefixed names (OSS 3.32+, newest Enterprise): ``np:ns/name``, ``gnp:name``,
  ``knp:ns/name``, ``snp:``, ``sgnp:``, ``sknp:``, ``kcnp:``, ``pro:`` and ``eot:__NO_MATCH__``,
  rewritten to the format (b) trace names the store, the Policy Board and the browser use
  (``ns/tier.name``, ``tier.name``, ``ns/knp.default.name``, ``__PROFILE__.kns.ns``...).

Every entry comes out as the canonical 5-field string (``str(PolicyHit)``), so each view sees
one spelling per policy whatever Calico version wrote the log.
"""

from __future__ import annotations

from desktopviz.core.verdict import PolicyHit

PROFILE_TIER = "__PROFILE__"
NO_MATCH = "__NO_MATCH__"  # an end-of-tier hit whose policy Felix did not name
_CACHE_LIMIT = 100_000
_cache: dict[str, str] = {}


class TraceFormatError(ValueError):
    """A policies entry that no Calico version writes."""


def _tiered(tier: str, name: str, staged: bool) -> str:
    """``tier.name`` (or ``tier.staged:name``); a name that already has the tier prefix keeps it."""
    if name.startswith("staged:"):
        name, staged = name[len("staged:") :], True
    if name.startswith(tier + "."):
        name = name[len(tier) + 1 :]
        if name.startswith("staged:"):
            name, staged = name[len("staged:") :], True
    return f"{tier}.{'staged:' if staged else ''}{name}"


def _split_ns(kind: str, rest: str, text: str) -> tuple[str, str]:
    ns, sep, name = rest.partition("/")
    if not sep or not ns or not name:
        raise TraceFormatError(f"{kind}: policy name needs namespace/name in {text!r}")
    return ns, name


def normalise_name(tier: str, name: str, text: str = "") -> str:
    """The format (b) trace name of a format (a), (b) or (c) policy name in tier ``tier``."""
    kind, sep, rest = name.partition(":")
    if not sep or kind == "staged" or "/" in kind or "." in kind:
        return name  # already format (a)/(b): `ns/tier.name`, `tier.staged:name`, `__PROFILE__.x`
    if not rest:
        raise TraceFormatError(f"empty policy name after {kind}: in {text!r}")
    if kind == "np":
        ns, n = _split_ns(kind, rest, text)
        return f"{ns}/{_tiered(tier, n, False)}"
    if kind == "snp":
        ns, n = _split_ns(kind, rest, text)
        return f"{ns}/{_tiered(tier, n, True)}"
    if kind == "knp":
        ns, n = _split_ns(kind, rest, text)
        return f"{ns}/knp.default.{n.removeprefix('knp.default.')}"
    if kind == "sknp":
        ns, n = _split_ns(kind, rest, text)
        n = n.removeprefix("staged:").removeprefix("knp.default.")
        return f"{ns}/staged:knp.default.{n}"
    if kind in ("gnp", "kcnp"):
        return _tiered(tier, rest, False)
    if kind == "sgnp":
        return _tiered(tier, rest, True)
    if kind == "pro":
        return rest if rest.startswith(PROFILE_TIER + ".") else f"{PROFILE_TIER}.{rest}"
    if kind == "eot":
        return f"{tier}.{NO_MATCH}"
    raise TraceFormatError(f"unknown policy kind {kind!r} in {text!r}")


def normalise_entry(text: str) -> str:
    """One trace entry as the canonical format (b) string; TraceFormatError if it is not one."""
    if type(text) is not str:
        raise TraceFormatError(f"not a string: {text!r}")
    hit = _cache.get(text)
    if hit is not None:
        return hit
    parts = text.split("|")
    if len(parts) not in (4, 5):
        raise TraceFormatError(f"not a policy trace entry (expected 4 or 5 fields separated by |): {text!r}")
    idx, tier, name, action = (p.strip() for p in parts[:4])
    rule = parts[4].strip() if len(parts) == 5 else "-"
    if not tier:
        raise TraceFormatError(f"empty tier in {text!r}")
    if not name:
        raise TraceFormatError(f"empty policy name in {text!r}")
    try:
        index = int(idx)
    except ValueError:
        raise TraceFormatError(f"index {idx!r} is not a number in {text!r}") from None
    act = action.lower()
    if act not in ("allow", "deny", "pass"):
        raise TraceFormatError(f"unknown action {action!r} in {text!r}")
    if rule in ("", "-"):
        rule_index = -1 if name.startswith("eot:") else -2
    else:
        try:
            rule_index = int(rule)
        except ValueError:
            raise TraceFormatError(f"rule index {rule!r} is not a number in {text!r}") from None
    out = str(PolicyHit(index, tier, normalise_name(tier, name, text), act, rule_index))  # type: ignore[arg-type]
    if len(_cache) > _CACHE_LIMIT:
        _cache.clear()
    _cache[text] = out
    return out


def normalise_list(value: object, field: str) -> list[str]:
    """A policies sub-field (a list of entries; None counts as empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TraceFormatError(f"{field}: expected a list of trace strings, got {type(value).__name__}")
    out = []
    for i, text in enumerate(value):
        try:
            out.append(normalise_entry(text))
        except TraceFormatError as exc:
            raise TraceFormatError(f"{field}[{i}]: {exc}") from None
    return out
