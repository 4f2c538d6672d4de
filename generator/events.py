"""Browsing sessions, turned into CSV lines of the event contract, fast.

A user opens a session, views a few products (mostly in one category), adds
some of the viewed products to the cart (each product has its own propensity)
and buys some of the carted ones (quantity 1-5). Many sessions are open at a
time and their events interleave, as on a real site; a session's events keep
their order. About 2% of the sessions are late: their events carry a time a
few minutes to an hour before the others (an app that was offline).

Speed comes from doing the work per session, not per event: when a session
opens, its whole plan is rendered to CSV fragments. Per event the hot loop
only picks an open session, advances the clock and joins an event id, the
fragment, a cached timestamp and the session id. Event ids are uuid4s built
from ``random.Random.randbytes`` for a whole file at once. Seeded streams are
byte-for-byte reproducible: every draw comes from one ``random.Random``.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from generator import faults
from generator.catalog import Catalog, format_cents

LATE_SESSION_SHARE = 0.02
LATE_MIN_MS = 2 * 60 * 1000
LATE_MAX_MS = 60 * 60 * 1000
SESSION_EVENT_GAP_S = 10.0  # mean time between two events of one session
MAX_OPEN_SESSIONS = 20_000
MEAN_VIEWS = 5.0
MAX_VIEWS = 40
FOCUS_SHARE = 0.8  # share of a session's views in the category it came for
FAVOURITE_SHARE = 0.5  # sessions that come for the user's favourite category
# Purchase quantities, drawn uniformly from this list: mostly 1, rarely 5.
PURCHASE_QUANTITIES = (1,) * 12 + (2,) * 5 + (3,) * 2 + (4, 5)

_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))  # the end of every event_time
ID_WIDTH = 37  # a uuid and the comma after it
_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")
# Where the 32 hex digits of a uuid go in "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx,".
_HEX_POSITIONS = (*range(0, 8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36))


def default_open_sessions(rate: float) -> int:
    """How many sessions are open at a time: enough for ~10 s between a session's events."""
    return max(1, min(MAX_OPEN_SESSIONS, round(rate * SESSION_EVENT_GAP_S)))


def uuid_column(rng: random.Random, count: int) -> str:
    """``count`` random uuid4 strings, each followed by a comma, as one string.

    Built with a handful of bytes operations instead of ``count`` calls to
    ``uuid.uuid4``: id ``i`` is ``column[37 * i : 37 * i + 36]``.
    """
    digits = rng.randbytes(16 * count).hex().encode("ascii")
    out = bytearray(ID_WIDTH * count)
    for source, target in enumerate(_HEX_POSITIONS):
        out[target::ID_WIDTH] = digits[source::32]
    for target in (8, 13, 18, 23):
        out[target::ID_WIDTH] = b"-" * count
    out[14::ID_WIDTH] = b"4" * count  # version 4
    out[19::ID_WIDTH] = digits[16::32].translate(_VARIANT)  # RFC 4122 variant
    out[36::ID_WIDTH] = b"," * count
    return out.decode("ascii")


def format_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC: ``2026-11-25T10:15:03.123Z``."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


@dataclass
class Chunk:
    """The lines of one file (each ending in a newline) and what they contain."""

    lines: list[str]
    bad_rows: int = 0
    duplicate_rows: int = 0


class EventStream:
    """An endless, seeded stream of events; :meth:`take` returns the next lines."""

    def __init__(
        self,
        catalog: Catalog,
        seed: int,
        *,
        start_ms: int,
        rate: float,
        open_sessions: int | None = None,
        bad_rate: float = 0.0,
        duplicate_rate: float = 0.0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if not (0 <= bad_rate <= 1 and 0 <= duplicate_rate <= 1):
            raise ValueError("bad_rate and duplicate_rate must be fractions between 0 and 1")
        self.catalog = catalog
        self.rng = random.Random(f"{seed}:events")
        self.clock_ms = float(start_ms)
        self.rate = rate
        self.bad_rate = bad_rate
        self.duplicate_rate = duplicate_rate

        products = catalog.products
        # CSV fragments after the user fields, up to and including event_time's comma.
        self._view_tail = [f",{p.csv},1," for p in products]
        self._buy_tail = [
            [f",{p.csv},{q}," for q in range(max(PURCHASE_QUANTITIES) + 1)] for p in products
        ]
        self._seconds: dict[int, str] = {}  # epoch second -> "YYYY-MM-DDTHH:MM:SS"
        self._recent: list[str] = []  # good lines of the previous chunk, for duplicates
        self._new_session = self._session_factory()
        count = open_sessions or default_open_sessions(rate)
        self._open = [self._new_session() for _ in range(count)]

    # -- sessions -----------------------------------------------------------------

    def _session_factory(self) -> Callable[[], list]:
        """A function that opens the next session, with everything it needs bound locally.

        A session is ``[plan, ",<session_id>\\n", late ms]``; the plan holds the
        CSV fragments of its events, last event first (``pop()`` gives the next).
        """
        catalog = self.catalog
        rnd, getrandbits, uniform = self.rng.random, self.rng.getrandbits, self.rng.uniform
        log = math.log
        user_slots, category_slots = catalog.user_slots, catalog.category_slots
        n_user_slots, n_category_slots = len(user_slots), len(category_slots)
        picks_by_category = catalog.category_picks
        favourites = [u.favourite_category for u in catalog.users]
        prefixes = [
            (f"view,{u.csv}", f"add_to_cart,{u.csv}", f"purchase,{u.csv}", f",s-{u.user_id}-")
            for u in catalog.users
        ]
        view_tail, buy_tail = self._view_tail, self._buy_tail
        cart_rate = [p.cart_rate for p in catalog.products]
        buy_rate = [p.buy_rate for p in catalog.products]
        quantities, n_quantities = PURCHASE_QUANTITIES, len(PURCHASE_QUANTITIES)
        mean_extra_views = MEAN_VIEWS - 1

        def new_session() -> list:
            user = user_slots[int(rnd() * n_user_slots)]
            view, cart, buy, session = prefixes[user]
            if rnd() < FAVOURITE_SHARE:
                focus = picks_by_category[favourites[user]]
            else:
                focus = picks_by_category[category_slots[int(rnd() * n_category_slots)]]
            views = min(1 + int(-log(1.0 - rnd()) * mean_extra_views), MAX_VIEWS)
            plan: list[str] = []
            carted: list[int] = []
            for _ in range(views):
                if rnd() < FOCUS_SHARE:
                    picks = focus
                else:
                    picks = picks_by_category[category_slots[int(rnd() * n_category_slots)]]
                product = picks[int(rnd() * len(picks))]
                plan.append(view + view_tail[product])
                if rnd() < cart_rate[product] and product not in carted:
                    plan.append(cart + view_tail[product])
                    carted.append(product)
            for product in carted:
                if rnd() < buy_rate[product]:
                    plan.append(buy + buy_tail[product][quantities[int(rnd() * n_quantities)]])
            plan.reverse()
            late = int(uniform(LATE_MIN_MS, LATE_MAX_MS)) if rnd() < LATE_SESSION_SHARE else 0
            return [plan, f"{session}{getrandbits(40):010x}\n", late]

        return new_session

    # -- lines --------------------------------------------------------------------

    def take(self, count: int, until_ms: float | None = None) -> Chunk:
        """The next ``count`` events as lines, plus the duplicates among them.

        Event times advance by 1/rate on average; with ``until_ms`` they are
        spread evenly up to that time instead (continuous mode: the events of
        the last interval). A ``bad_rate`` share of the events is replaced by
        malformed lines (see :mod:`generator.faults`). After a
        ``duplicate_rate`` share of the events, an earlier good line of this
        or the previous chunk is sent again, verbatim, as at-least-once
        delivery would: the chunk then has more than ``count`` lines.
        """
        if count <= 0:
            return Chunk([])
        if until_ms is None:
            gap, limit = 1000.0 / self.rate, math.inf
        else:
            gap, limit = max(until_ms - self.clock_ms, 0.0) / count, until_ms
        if not (self.bad_rate or self.duplicate_rate):
            return Chunk(self._good_lines(count, gap, limit))
        return self._mixed_lines(count, gap, limit)

    def _good_lines(self, count: int, gap: float, limit: float) -> list[str]:
        """The hot loop: ``count`` valid events from the open sessions."""
        rnd = self.rng.random
        sessions = self._open
        open_count = len(sessions)
        new_session = self._new_session
        seconds = self._seconds  # "YYYY-MM-DDTHH:MM:SS" by epoch second
        if len(seconds) > 100_000:
            seconds.clear()
        millis = _MILLIS
        ids = uuid_column(self.rng, count)
        step = 2.0 * gap  # uniform gaps in [0, 2 * gap): mean gap
        clock = self.clock_ms
        last_second, prefix = -1, ""
        lines: list[str] = []
        append = lines.append
        offset = 0
        for _ in range(count):
            index = int(rnd() * open_count)
            session = sessions[index]
            plan = session[0]
            fragment = plan.pop()
            if not plan:
                sessions[index] = new_session()
            clock += rnd() * step
            if clock > limit:
                clock = limit
            moment = int(clock) - session[2]
            second = moment // 1000
            if second != last_second:
                prefix = seconds.get(second)
                if prefix is None:
                    prefix = seconds[second] = time.strftime(
                        "%Y-%m-%dT%H:%M:%S", time.gmtime(second)
                    )
                last_second = second
            end = offset + 37  # ID_WIDTH: the uuid and its comma
            append(
                ids[offset:end] + fragment + prefix + millis[moment - second * 1000] + session[1]
            )
            offset = end
        self.clock_ms = clock
        return lines

    def _mixed_lines(self, count: int, gap: float, limit: float) -> Chunk:
        rnd = self.rng.random
        bad_rate, duplicate_rate = self.bad_rate, self.duplicate_rate
        previous = self._recent
        # Decide the slots first: 0 good, 1 bad (instead of a good row), 2 duplicate (after a
        # new row, on top of the count; only once there is a good line to repeat).
        slots: list[int] = []
        good_so_far = len(previous)
        for _ in range(count):
            if rnd() < bad_rate:
                slots.append(1)
            else:
                slots.append(0)
                good_so_far += 1
            if duplicate_rate and good_so_far and rnd() < duplicate_rate:
                slots.append(2)
        good = self._good_lines(slots.count(0), gap, limit)
        lines: list[str] = []
        placed = bad = duplicates = 0
        for slot in slots:
            if slot == 0:
                lines.append(good[placed])
                placed += 1
            elif slot == 1:
                lines.append(faults.bad_line(self.rng, self._random_values()))
                bad += 1
            else:
                pick = int(rnd() * (len(previous) + placed))
                lines.append(previous[pick] if pick < len(previous) else good[pick - len(previous)])
                duplicates += 1
        if good:
            self._recent = good
        return Chunk(lines, bad, duplicates)

    def _random_values(self) -> list[str]:
        """A valid event outside any session, as raw field values (the raw material of a bad row)."""
        rng = self.rng
        product = self.catalog.products[rng.randrange(len(self.catalog.products))]
        user = self.catalog.users[rng.randrange(len(self.catalog.users))]
        event_type = rng.choice(("view", "view", "view", "add_to_cart", "purchase"))
        quantity = rng.choice(PURCHASE_QUANTITIES) if event_type == "purchase" else 1
        return [
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            event_type,
            str(user.user_id),
            user.name,
            str(product.product_id),
            product.name,
            product.category,
            format_cents(product.price_cents),
            str(quantity),
            format_ms(int(self.clock_ms)),
            f"s-{user.user_id}-{rng.getrandbits(40):010x}",
        ]
