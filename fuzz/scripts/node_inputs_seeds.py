#!/usr/bin/env python3
"""Writes the seeds of the fuzz target node_inputs (fuzz/seeds/node_inputs/): short, ordinary
runs of a LAN in the target's operation encoding (see fuzz/fuzz_targets/node_inputs.rs), so the
fuzzer starts from inputs that pass authentication and reach the election, claims and wakes.

Run from the repository root: python3 fuzz/scripts/node_inputs_seeds.py
"""

import os
import struct

OUT = os.path.join("fuzz", "seeds", "node_inputs")


def u16(v):
    return struct.pack(">H", v & 0xFFFF)


def host(n):
    """The byte that Reader::host reads as host n (1-based)."""
    return bytes([n - 1])


def host_info(about, ports=()):
    # Flags: its own IPv4 and IPv6 address, and len(ports) ports.
    return bytes([0x03 | (len(ports) << 4)]) + host(1) + b"".join(u16(p) for p in ports)


def signed(sender, kind_and_body):
    """Op 0: a validly signed datagram from peer `sender` (2 to 5), from its own address."""
    head = bytes([0, sender - 1]) + host(sender) + kind_and_body
    # seq: next (+1); skew: 0 ms; site key; from its own address; on the LAN; over IPv4.
    return head + bytes([1, 0, 2, 0, 0, 1, 1, 1])


def heartbeat(sender, ports=(22,)):
    body = bytes([0]) + host_info(sender, ports)
    # Member, term 0, boot time, can proxy, hears 3 peers, no claims, claims complete.
    body += bytes([0, 0]) + u16(1000 + sender) + bytes([1, 1, 3, 0, 1])
    return signed(sender, body)


def sleep_notice(sender, ports=(3389,)):
    return signed(sender, bytes([1]) + host_info(sender, ports))


def advance(ms):
    return bytes([9]) + u16(ms)


def heartbeats(peers, rounds, step_ms=2000):
    out = b""
    for _ in range(rounds):
        out += b"".join(heartbeat(p) for p in peers) + advance(step_ms)
    return out


def probe_answers(n, answered=False):
    answer = bytes([1, 1]) if answered else bytes([0])
    return b"".join(bytes([7, 0]) + answer for _ in range(n))


def arp_request(caller, target):
    return bytes([4]) + host(caller) + host(target) + bytes([0])


def syn(caller, target, port):
    return bytes([4]) + host(caller) + host(target) + bytes([6]) + u16(40000) + u16(port)


SEEDS = {
    "lan_settles.bin": heartbeats([2, 3, 4], 10),
    "peer_sleeps_and_is_woken.bin": heartbeats([2, 3, 4], 6)
    + sleep_notice(3)
    + advance(500)
    + probe_answers(4)
    + heartbeats([2, 4], 3)
    + probe_answers(4)
    + arp_request(6, 3)
    + syn(6, 3, 3389)
    + heartbeats([2, 4], 2),
    "clock_steps_and_own_sleep.bin": heartbeats([2, 3], 4)
    # The wall clock is stepped back an hour, then this host sleeps and resumes.
    + bytes([12, 1]) + u16(-60)
    + heartbeats([2, 3], 2)
    + bytes([13, 0])
    + advance(30000)
    + bytes([13, 1]) + u16(5)
    + heartbeats([2, 3], 4),
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(name, len(data))
