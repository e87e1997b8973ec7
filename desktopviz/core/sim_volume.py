"""Connection counts and byte/packet volumes drawn per group, not per connection.

Connections arrive as a Poisson process and last an exponentially distributed time (mean =
the traffic's `duration`). Because the exponential is memoryless, a group's open connections
are fully described by their *count*: each one still open at an interval start completes in
that interval with probability 1 - exp(-T/m). For arrivals spread uniformly over [a0, a1)
inside an interval ending at E the completion probability is
1 - (m/S)(exp(-(E-a1)/m) - exp(-(E-a0)/m)), S = a1 - a0. A connection's bytes flow evenly
over its life, so the expected fraction of its bytes that falls in an interval equals that
same probability; summed over a group this "share" (in connections' worth of bytes) drives a
gamma draw of the byte total. Every function takes numpy arrays and makes one draw per
array, so the cost follows the number of groups, never the number of connections.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

BYTES_CV2 = 0.25  # squared coefficient of variation of one connection's byte count
SYN_BYTES = 60  # a TCP SYN with options, IP header included
SYN_RETRY_TIMES = (1.0, 3.0, 7.0, 15.0, 31.0, 63.0)  # seconds after the first SYN (Linux)
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def completion_probability_new(m: FloatArray, a0: FloatArray, a1: FloatArray, end: float) -> FloatArray:
    """P(a connection arriving uniformly in [a0, a1) ends before `end`), duration ~ Exp(m)."""
    span = a1 - a0
    near = np.exp(-(end - a1) / m)
    far = np.exp(-(end - a0) / m)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 1.0 - (m / np.where(span > 0, span, 1.0)) * (near - far)
    point = 1.0 - np.exp(-(end - a0) / m)
    return np.clip(np.where(span > 1e-9, p, point), 0.0, 1.0)


def completion_probability_open(m: FloatArray, length: float) -> FloatArray:
    """P(an open connection ends within the next `length` seconds)."""
    return 1.0 - np.exp(-length / m)


def draw_bytes(rng: np.random.Generator, share: FloatArray, per_conn: FloatArray) -> FloatArray:
    """Total bytes for `share` connections' worth of traffic: a gamma with mean
    share × per_conn and the variance of a sum of `share` independent connections."""
    out = np.zeros_like(share)
    mask = (share > 0) & (per_conn > 0)
    if mask.any():
        out[mask] = rng.gamma(share[mask] / BYTES_CV2, per_conn[mask] * BYTES_CV2)
    return out


def packets_for(
    nbytes: FloatArray, share: FloatArray, mean_bytes: FloatArray, mean_packets: FloatArray, started: IntArray
) -> IntArray:
    """Packets that go with `nbytes`: the per-connection packet count scaled by how far the
    byte draw fell from its mean; at least one packet per connection started (its SYN or
    datagram) and at least one whenever bytes flowed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(share * mean_bytes > 0, nbytes / (share * mean_bytes), 0.0)
    pk = np.rint(share * mean_packets * factor).astype(np.int64)
    pk = np.maximum(pk, started)
    return np.where((nbytes > 0) & (pk == 0), 1, pk)


def syn_retries(wait: float) -> float:
    """Mean SYN retransmissions of a denied TCP client: Linux retries at 1, 3, 7, 15, 31, 63 s
    (initial RTO 1 s doubling, tcp_syn_retries 6) and the client gives up after an exponential
    time of mean `wait` (the connection's mean duration), so each retry happens with
    probability exp(-t/wait)."""
    w = max(float(wait), 1e-9)
    return float(sum(math.exp(-t / w) for t in SYN_RETRY_TIMES))


def denied_packets(
    rng: np.random.Generator, started: IntArray, tcp: NDArray[np.bool_], retries: FloatArray
) -> IntArray:
    """Packets denied clients send: per TCP connection its SYN plus a Poisson draw of the mean
    retries (`syn_retries`); one datagram per connection otherwise."""
    extra = rng.poisson(started.astype(np.float64) * retries)
    return np.where(tcp, started + extra, started).astype(np.int64)


def ephemeral_ports(rng: np.random.Generator, count: int) -> list[int]:
    """Linux ephemeral source ports (net.ipv4.ip_local_port_range 32768-60999)."""
    return [int(p) for p in rng.integers(32768, 61000, size=count)]
