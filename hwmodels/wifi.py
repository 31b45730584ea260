"""Wi-Fi as a shared medium: IEEE 802.11 DCF timing of a transfer, priced per PPDU.

A payload is cut into MSDUs, MSDUs into MPDUs (MAC header + FCS), MPDUs into
PPDUs (one MPDU each for 802.11a; A-MPDUs within the byte, MPDU-count and
duration limits for VHT and HE). Each PPDU costs, on the medium,

    DIFS + preamble + data symbols + SIFS + ACK (or Block-ACK)
    + idle backoff slots and collisions per success for ``contenders`` stations,

the contention part from Bianchi's fixed point (:mod:`hwmodels.dcf`): with one
station it is CWmin/2 idle slots and no collisions. Constants are from IEEE Std
802.11-2020 (802.11ax: IEEE Std 802.11ax-2021); the profile records say where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .checks import check_positive, is_number
from .dcf import Backoff, bianchi
from .errors import SpecError
from .exchange import ExchangeTiming, check_contenders, check_payload_B
from .registry import Registry

__all__ = ["WifiProfile", "WifiAirtime", "WIFI_PROFILES", "wifi_profile", "ppdu_time_s", "control_frame_time_s",
           "exchange_timing", "exchange_time_s", "airtime_breakdown", "goodput_bps", "DOT11A_54", "VHT80_MCS9",
           "HE80_MCS11"]


@dataclass(frozen=True)
class WifiProfile:
    """PHY and MAC constants of one 802.11 configuration (times in s, sizes in octets)."""

    name: str
    slot_s: float                  # aSlotTime
    sifs_s: float                  # aSIFSTime
    preamble_s: float              # PHY preamble and PHY header(s) before the first data symbol
    symbol_s: float                # data OFDM symbol, guard interval included
    data_bits_per_symbol: int      # N_DBPS of the profile's MCS
    service_bits: int              # SERVICE field ahead of the PSDU
    tail_bits: int                 # BCC tail (0 with LDPC)
    mac_overhead_B: int            # MAC header + FCS of one data MPDU
    msdu_B: int                    # payload octets per MPDU (the MSDU size)
    max_mpdus: int                 # MPDUs per PPDU: 1 without aggregation, else the Block Ack window
    max_psdu_B: int                # longest PSDU / A-MPDU in octets
    max_ppdu_s: float              # longest PPDU (aPPDUMaxTime); inf if the PHY sets none
    block_ack_B: int               # BlockAck frame answering an A-MPDU of two or more MPDUs
    cw_min: int = 15               # aCWmin
    cw_max: int = 1023             # aCWmax
    retry_limit: int | None = 7    # dot11ShortRetryLimit: attempts per frame
    delimiter_B: int = 4           # A-MPDU subframe delimiter (subframes padded to 4 octets)
    data_time_grid_s: float = 0.0  # data field rounded up to a multiple of this (VHT short GI: 4 us)
    packet_extension_s: float = 0.0
    ack_B: int = 14                # Ack frame answering a single MPDU
    rts_cts: bool = False          # protect each PPDU with RTS/CTS (Bianchi's second access mode)
    rts_B: int = 20
    cts_B: int = 14
    control_preamble_s: float = 20e-6       # control responses go in non-HT OFDM PPDUs ...
    control_symbol_s: float = 4e-6
    control_bits_per_symbol: int = 96       # ... at 24 Mb/s, the highest mandatory basic rate
    source: str = ""

    def __post_init__(self) -> None:
        check_positive(self, "slot_s", "sifs_s", "preamble_s", "symbol_s", "control_preamble_s", "control_symbol_s")
        if not (is_number(self.max_ppdu_s, finite=False) and self.max_ppdu_s > 0):
            raise SpecError(f"WifiProfile {self.name!r}: field 'max_ppdu_s' must be > 0 (inf for no limit), "
                            f"got {self.max_ppdu_s!r}")
        check_positive(self, "data_bits_per_symbol", "mac_overhead_B", "msdu_B", "max_mpdus", "max_psdu_B", "ack_B",
                       "block_ack_B", "rts_B", "cts_B", "control_bits_per_symbol", integer=True)
        if not isinstance(self.rts_cts, bool):
            raise SpecError(f"WifiProfile {self.name!r}: field 'rts_cts' must be true or false, got {self.rts_cts!r}")
        check_positive(self, "service_bits", "tail_bits", "delimiter_B", integer=True, allow_zero=True)
        check_positive(self, "data_time_grid_s", "packet_extension_s", allow_zero=True)
        self.backoff   # validates cw_min, cw_max, retry_limit
        if self.max_mpdus == 1 and self.msdu_B + self.mac_overhead_B > self.max_psdu_B:
            raise SpecError(f"WifiProfile {self.name!r}: field 'msdu_B' ({self.msdu_B}) plus the MAC overhead "
                            f"exceeds max_psdu_B ({self.max_psdu_B})")

    @property
    def difs_s(self) -> float:
        """DIFS = aSIFSTime + 2 x aSlotTime (IEEE Std 802.11-2020, 10.3.2.3)."""
        return self.sifs_s + 2.0 * self.slot_s

    @property
    def data_rate_bps(self) -> float:
        """PHY data rate N_DBPS / T_SYM in bit/s."""
        return self.data_bits_per_symbol / self.symbol_s

    @property
    def aggregates(self) -> bool:
        """Whether MPDUs travel in A-MPDUs (with delimiters and a Block Ack)."""
        return self.max_mpdus > 1

    @property
    def backoff(self) -> Backoff:
        """The profile's contention windows and retry limit."""
        return Backoff(self.cw_min, self.cw_max, self.retry_limit)


def _grid_ceil(value: float, grid: float) -> float:
    # 1e-9 absorbs float error when value is an exact multiple of grid (e.g. 10 x 3.6 us on a 4 us grid)
    return math.ceil(value / grid - 1e-9) * grid if grid > 0 else value


def ppdu_time_s(profile: WifiProfile, psdu_B: int) -> float:
    """Duration of a data PPDU carrying ``psdu_B`` octets: preamble + ceil((SERVICE + 8 L + tail) / N_DBPS)
    data symbols (on the VHT short-GI grid if set) + packet extension."""
    symbols = math.ceil((profile.service_bits + 8 * psdu_B + profile.tail_bits) / profile.data_bits_per_symbol)
    return profile.preamble_s + _grid_ceil(symbols * profile.symbol_s, profile.data_time_grid_s) \
        + profile.packet_extension_s


def control_frame_time_s(profile: WifiProfile, frame_B: int) -> float:
    """Duration of a control frame (ACK, BlockAck) in a non-HT OFDM PPDU at the control rate."""
    symbols = math.ceil((16 + 8 * frame_B + 6) / profile.control_bits_per_symbol)
    return profile.control_preamble_s + symbols * profile.control_symbol_s


def _psdu_B(profile: WifiProfile, mpdu_sizes: list[int]) -> int:
    if not profile.aggregates:
        return mpdu_sizes[0]
    subframes = [profile.delimiter_B + m for m in mpdu_sizes]
    padded = [4 * math.ceil(s / 4) for s in subframes]
    return sum(padded) - (padded[-1] - subframes[-1])   # the last subframe is not padded


def _fits(profile: WifiProfile, mpdu_sizes: list[int]) -> bool:
    psdu = _psdu_B(profile, mpdu_sizes)
    return (len(mpdu_sizes) <= profile.max_mpdus and psdu <= profile.max_psdu_B
            and ppdu_time_s(profile, psdu) <= profile.max_ppdu_s + 1e-12)


@lru_cache(maxsize=256)
def _full_mpdus_per_ppdu(profile: WifiProfile) -> int:
    full = profile.msdu_B + profile.mac_overhead_B
    for k in range(profile.max_mpdus, 0, -1):
        if _fits(profile, [full] * k):
            return k
    raise SpecError(f"WifiProfile {profile.name!r}: one MPDU of {full} octets does not fit in a PPDU "
                    f"(max_psdu_B={profile.max_psdu_B}, max_ppdu_s={profile.max_ppdu_s})")


def _ppdus(profile: WifiProfile, payload_B: int) -> list[tuple[int, int, int, int]]:
    """The PPDUs carrying ``payload_B``: (how many, MPDUs, PSDU octets, payload octets) per kind."""
    full_mpdus, rest_B = divmod(payload_B, profile.msdu_B)
    full = profile.msdu_B + profile.mac_overhead_B
    k = _full_mpdus_per_ppdu(profile)
    full_ppdus, left = divmod(full_mpdus, k)
    kinds = []
    if full_ppdus:
        kinds.append((full_ppdus, k, _psdu_B(profile, [full] * k), k * profile.msdu_B))
    last = [full] * left + ([rest_B + profile.mac_overhead_B] if rest_B else [])
    if last and _fits(profile, last):
        kinds.append((1, len(last), _psdu_B(profile, last), left * profile.msdu_B + rest_B))
    elif last:   # the partial MSDU does not fit beside the left-over full ones: it goes alone
        kinds.append((1, left, _psdu_B(profile, [full] * left), left * profile.msdu_B))
        kinds.append((1, 1, _psdu_B(profile, [rest_B + profile.mac_overhead_B]), rest_B))
    return kinds


@dataclass(frozen=True)
class WifiAirtime:
    """Where the medium time of an exchange goes (s): idle backoff slots, collisions, protocol
    overhead (DIFS, preamble, MAC headers, delimiters, padding, SIFS, ACK) and the payload bits."""

    backoff_s: float
    collision_s: float
    overhead_s: float
    payload_s: float

    @property
    def total_s(self) -> float:
        """The sum of the parts: equals :func:`exchange_time_s`."""
        return self.backoff_s + self.collision_s + self.overhead_s + self.payload_s


def _priced(profile: WifiProfile, payload_B: float, contenders: int) -> tuple[ExchangeTiming, WifiAirtime]:
    octets = check_payload_B(payload_B)
    n = check_contenders(contenders)
    if not isinstance(profile, WifiProfile):
        raise SpecError(f"profile must be a WifiProfile, got {type(profile).__name__}; see wifi_profile(name)")
    c = bianchi(n, profile.backoff)
    idle = c.idle_slots_per_success * profile.slot_s
    rts_s = control_frame_time_s(profile, profile.rts_B) if profile.rts_cts else 0.0
    cts_s = control_frame_time_s(profile, profile.cts_B) if profile.rts_cts else 0.0
    handshake = rts_s + profile.sifs_s + cts_s + profile.sifs_s if profile.rts_cts else 0.0
    timing = ExchangeTiming(0.0, 0.0, 0.0, 0.0)
    backoff = collision = overhead = 0.0
    for count, mpdus, psdu_B, carried_B in (_ppdus(profile, octets) if octets else []):
        ppdu = ppdu_time_s(profile, psdu_B)
        ack_s = control_frame_time_s(profile, profile.block_ack_B if mpdus > 1 else profile.ack_B)
        success = profile.difs_s + handshake + ppdu + profile.sifs_s + ack_s
        # Bianchi's T_c: what collides is the RTS or the whole PPDU; EIFS and response timeouts not modelled
        collided_tx = rts_s if profile.rts_cts else ppdu
        clash = c.collisions_per_success * (profile.difs_s + collided_tx)
        share = idle + clash + success
        tx = (rts_s + ppdu) + collided_tx * (c.attempts_per_success - 1.0)
        rx = cts_s + ack_s
        timing = timing + ExchangeTiming(share, tx, rx, n * share - tx - rx).scaled(count)
        backoff += count * idle
        collision += count * clash
        overhead += count * (success - 8.0 * carried_B / profile.data_rate_bps)
    payload = 8.0 * octets / profile.data_rate_bps
    return timing, WifiAirtime(backoff, collision, overhead, payload)


def exchange_timing(profile: WifiProfile, payload_B: float, contenders: int = 1) -> ExchangeTiming:
    """Medium time and the sender's radio time per state to deliver ``payload_B`` octets from one
    station while ``contenders`` saturated stations (itself included) share the cell."""
    return _priced(profile, payload_B, contenders)[0]


def exchange_time_s(profile: WifiProfile, payload_B: float, contenders: int = 1) -> float:
    """Mean medium time (s) to deliver ``payload_B`` octets from one of ``contenders`` stations."""
    return exchange_timing(profile, payload_B, contenders).total_s


def airtime_breakdown(profile: WifiProfile, payload_B: float, contenders: int = 1) -> WifiAirtime:
    """:func:`exchange_time_s` split into backoff, collisions, protocol overhead and payload."""
    return _priced(profile, payload_B, contenders)[1]


def goodput_bps(profile: WifiProfile, payload_B: float, contenders: int = 1) -> float:
    """Payload bit/s the cell delivers when every contender sends messages of ``payload_B`` octets
    (8 payload_B / exchange_time_s; each station gets 1/contenders of it). 0 for an empty message."""
    octets = check_payload_B(payload_B)
    return 8.0 * octets / exchange_time_s(profile, octets, contenders) if octets else 0.0


_COMMON = ("IEEE Std 802.11-2020: DIFS = aSIFSTime + 2 aSlotTime (10.3.2.3); DCF backoff (10.3.4); "
           "dot11ShortRetryLimit = 7 (Annex C); Ack (14 octets) and BlockAck frame formats (9.3.1); "
           "control responses at the highest basic rate not above the data rate (clause 10 multirate rules): "
           "24 Mb/s non-HT OFDM, 20 us preamble, 4 us symbols, N_DBPS = 96 (clause 17)")

DOT11A_54 = WifiProfile(
    name="802.11a-54", slot_s=9e-6, sifs_s=16e-6, preamble_s=20e-6, symbol_s=4e-6, data_bits_per_symbol=216,
    service_bits=16, tail_bits=6, mac_overhead_B=28, msdu_B=1500, max_mpdus=1, max_psdu_B=4095,
    max_ppdu_s=math.inf, block_ack_B=32,
    source="IEEE Std 802.11-2020 clause 17 (OFDM PHY), 20 MHz: aSlotTime 9 us, aSIFSTime 16 us, aCWmin 15, "
           "aCWmax 1023, aPSDUMaxLength 4095 (OFDM PHY characteristics table); T_PREAMBLE 16 us + "
           "T_SIGNAL 4 us, T_SYM 4 us, 54 Mb/s: N_DBPS 216 (17.3.2); TXTIME = T_PREAMBLE + T_SIGNAL + T_SYM ceil((16 + 8 LENGTH + 6) "
           "/ N_DBPS) (17.4.3); data MPDU without QoS: 24-octet header + 4-octet FCS (9.3.2.1); " + _COMMON)

VHT80_MCS9 = WifiProfile(
    name="802.11ac-vht80-mcs9", slot_s=9e-6, sifs_s=16e-6, preamble_s=40e-6, symbol_s=3.6e-6,
    data_bits_per_symbol=1560, service_bits=16, tail_bits=6, data_time_grid_s=4e-6, mac_overhead_B=30,
    msdu_B=1500, max_mpdus=64, max_psdu_B=1_048_575, max_ppdu_s=5.484e-3, block_ack_B=32,
    source="IEEE Std 802.11-2020 clause 21 (VHT PHY), 80 MHz, 1 spatial stream, VHT-MCS 9, short GI: "
           "N_DBPS = 234 x 8 x 5/6 = 1560, T_SYMS 3.6 us (433.3 Mb/s); preamble L-STF 8 + L-LTF 8 + L-SIG 4 + "
           "VHT-SIG-A 8 + VHT-STF 4 + one VHT-LTF 4 + VHT-SIG-B 4 = 40 us; short-GI TXTIME rounds the data "
           "field up to 4 us (21.4.3); BCC: 16 SERVICE + 6 tail bits; aPPDUMaxTime 5.484 ms; A-MPDU up to "
           "2^(13+7) - 1 = 1,048,575 octets (VHT Capabilities: Maximum A-MPDU Length Exponent 7), subframes of a "
           "4-octet delimiter padded to 4 octets (9.7); QoS data MPDU 26-octet header + 4-octet FCS (9.3.2.1); "
           "compressed BlockAck with a 64-bit bitmap (32 octets, 64-MPDU window); " + _COMMON)

HE80_MCS11 = WifiProfile(
    name="802.11ax-he80-mcs11", slot_s=9e-6, sifs_s=16e-6, preamble_s=43.2e-6, symbol_s=13.6e-6,
    data_bits_per_symbol=8166, service_bits=16, tail_bits=0, mac_overhead_B=30, msdu_B=1500, max_mpdus=256,
    max_psdu_B=6_500_631, max_ppdu_s=5.484e-3, block_ack_B=56,
    source="IEEE Std 802.11ax-2021 clause 27 (HE PHY), HE SU PPDU, 80 MHz (996-tone RU), 1 spatial stream, "
           "HE-MCS 11, 0.8 us GI: N_DBPS = floor(980 x 10 x 5/6) = 8166, T_SYM 13.6 us (600.4 Mb/s); "
           "preamble L-STF 8 + L-LTF 8 + L-SIG 4 + RL-SIG 4 + HE-SIG-A 8 + HE-STF 4 + one 2x HE-LTF 7.2 = "
           "43.2 us; LDPC: 16 SERVICE bits, no tail, LDPC extra symbol and packet extension taken "
           "as 0 (27.4.3); aPPDUMaxTime 5.484 ms and aPSDUMaxLength 6,500,631 octets (Table 27-53); "
           "QoS data MPDU 26 + 4 octets; compressed BlockAck with a 256-bit bitmap (56 octets, 256-MPDU "
           "window); " + _COMMON)

WIFI_PROFILES: Registry[WifiProfile] = Registry.of("Wi-Fi profile", {p.name: p for p in (DOT11A_54, VHT80_MCS9, HE80_MCS11)})


def wifi_profile(name: str) -> WifiProfile:
    """The built-in profile called ``name``."""
    return WIFI_PROFILES.get(name)
