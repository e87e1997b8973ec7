"""What the policy engine answers: policy hits (trace entries), per-side results, verdicts.

Shared by the engine (which makes them), the simulator (which writes them into flow logs),
the store (which indexes them) and the views (which show them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["allow", "deny"]
HitAction = Literal["allow", "deny", "pass"]


@dataclass(frozen=True)
class PolicyHit:
    """One trace entry, `index|tier|name|action|rule_index` (calico.md §1.3 format (b)).

    `name` is the policy's trace name (`storefront/default.trusted`, `security.quarantine`,
    `ns/knp.default.x`, `__PROFILE__.kns.ns`); rule_index -1 is a tier's end-of-tier action."""

    index: int
    tier: str
    name: str
    action: HitAction
    rule_index: int

    def __str__(self) -> str:
        return f"{self.index}|{self.tier}|{self.name}|{self.action}|{self.rule_index}"

    @property
    def is_profile(self) -> bool:
        return self.tier == "__PROFILE__"

    @property
    def is_end_of_tier(self) -> bool:
        return self.rule_index == -1

    @property
    def namespace(self) -> str | None:
        """The policy's namespace, from the trace name (None for global ones and profiles)."""
        if self.is_profile or "/" not in self.name:
            return None
        return self.name.split("/", 1)[0]

    @classmethod
    def parse(cls, text: str) -> PolicyHit:
        """Parse a 5-field trace string; a 4-field one gets rule index -2 (unknown)."""
        parts = text.split("|")
        if len(parts) not in (4, 5):
            raise ValueError(f"not a policy trace entry: {text!r}")
        rule = -2
        if len(parts) == 5:
            rule = -2 if parts[4] in ("", "-") else int(parts[4])
        action = parts[3].lower()
        if action not in ("allow", "deny", "pass"):
            raise ValueError(f"unknown action {parts[3]!r} in {text!r}")
        return cls(int(parts[0]), parts[1], parts[2], action, rule)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SideResult:
    """The result at one endpoint for one direction (egress at the source, ingress at the
    destination): the enforced action and trace, and the pending (staged-as-enforced) ones."""

    direction: Literal["ingress", "egress"]
    action: Action
    trace: tuple[PolicyHit, ...]
    pending_action: Action
    pending_trace: tuple[PolicyHit, ...]

    @property
    def enforced_strings(self) -> list[str]:
        return [str(h) for h in self.trace]

    @property
    def pending_strings(self) -> list[str]:
        return [str(h) for h in self.pending_trace]


@dataclass(frozen=True)
class Verdict:
    """The engine's answer for one connection.

    `egress` is None when the source is not a Calico endpoint; `ingress` is None when the
    destination is not one, or when the source denied (the packet never got there)."""

    egress: SideResult | None
    ingress: SideResult | None
    action: Action
    pending_action: Action
    notes: tuple[str, ...] = field(default=())

    @property
    def denied_at(self) -> Literal["src", "dst"] | None:
        if self.egress is not None and self.egress.action == "deny":
            return "src"
        if self.ingress is not None and self.ingress.action == "deny":
            return "dst"
        return None
