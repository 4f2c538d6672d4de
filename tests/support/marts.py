"""Shared by the test_dbt_* modules; holds no tests.

- a small deterministic writer of event CSV files (header from the contract)
  with the awkward cases built in: replayed events, late events, invalid
  lines, sessions across midnight UTC, time zone offsets, same-instant steps,
  renamed products and users, a product never viewed and one never bought;
- an independent computation, in plain Python, of what the marts must hold,
  following the definitions documented in dbt_project/models/marts;
- running dbt and querying the warehouse as a given role.
"""

from __future__ import annotations

import csv
import math
import random
import subprocess
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pipeline import contract, db, settings

REPO_ROOT = Path(__file__).resolve().parents[2]

MARTS = (
    "fct_product_daily",
    "fct_funnel_daily",
    "dim_products",
    "dim_users",
    "revenue_by_product",
    "conversion_rate_by_product",
    "top_converting_products",
    "fct_revenue_hourly",
)
# Order of the rows when a mart is compared as a whole.
MART_KEYS = {
    "fct_product_daily": "product_id, event_date",
    "fct_funnel_daily": "event_date",
    "dim_products": "product_id",
    "dim_users": "user_id",
    "revenue_by_product": "product_id",
    "conversion_rate_by_product": "product_id",
    "top_converting_products": "conversion_rank",
    "fct_revenue_hourly": "event_hour",
}
# Lineage columns that say when a row was built, not what it holds.
LINEAGE = {"staged_at"}

CENT = Decimal("0.01")
RATE = Decimal("0.000001")


# --------------------------------------------------------------------------- dbt and SQL


def run_dbt(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``ecom dbt ARGS``, as a user runs it: the transformer role on the test warehouse."""
    env = settings.environment()
    state = settings.state_dir() / "dbt"
    env.update(
        DBT_TARGET_PATH=str(state / "target"),
        DBT_LOG_PATH=str(state / "logs"),
        DO_NOT_TRACK="1",
    )
    env.pop("DBT_PGUSER", None)
    command = [sys.executable, "-m", "ecom", "dbt", *args]
    result = subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


def build_warehouse(folder: Path, seed: int, events: int = 20000) -> None:
    """Empty raw, then the whole pipeline on generated events: ingest, full dbt build, checkpoints.

    1% bad rows and 2% duplicates, like the demo; fewer than ~20k events make
    few purchases, since sessions need time to reach the checkout.
    """
    from tests.support.streaming import REPO_ROOT, Folders, generate, ingest_once, reset_raw

    reset_raw()
    folders = Folders(folder)
    generate(
        folders,
        "--events",
        str(events),
        "--seed",
        str(seed),
        "--bad-rate",
        "0.01",
        "--duplicate-rate",
        "0.02",
    )
    assert ingest_once(folders).returncode == 0
    run_dbt("build", "--full-refresh")
    checkpoints = subprocess.run(
        [sys.executable, "-m", "expectations", "run", "--all"],
        cwd=REPO_ROOT,
        env=settings.environment(),
        capture_output=True,
        text=True,
    )
    assert checkpoints.returncode == 0, checkpoints.stdout + checkpoints.stderr


def query(sql: str, role: str | None = None) -> list[tuple]:
    with db.connection(role) as conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
        conn.commit()
        return rows


def truncate_raw() -> None:
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(db.TRUNCATE_RAW)
        conn.commit()


def mart_rows(mart: str) -> list[dict]:
    """All rows of a mart, ordered by its key, without lineage columns."""
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(f"select * from marts.{mart} order by {MART_KEYS[mart]}")
        names = [column.name for column in cur.description]
        return [
            {k: v for k, v in zip(names, row, strict=True) if k not in LINEAGE}
            for row in cur.fetchall()
        ]


# --------------------------------------------------------------------------- test data


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    user_id: int
    user_name: str
    product_id: int
    product_name: str
    category: str
    price: Decimal
    quantity: int
    event_at: datetime  # UTC
    session_id: str
    time_text: str  # event_time as written in the CSV (with its offset)

    def values(self) -> tuple:
        """The contract's fields, in its order, as a row for raw.ecommerce_events."""
        return (
            self.event_id,
            self.event_type,
            self.user_id,
            self.user_name,
            self.product_id,
            self.product_name,
            self.category,
            self.price,
            self.quantity,
            self.time_text,
            self.session_id,
        )

    def line(self) -> str:
        values = [
            self.event_id,
            self.event_type,
            str(self.user_id),
            self.user_name,
            str(self.product_id),
            self.product_name,
            self.category,
            f"{self.price:.2f}",
            str(self.quantity),
            self.time_text,
            self.session_id,
        ]
        return ",".join(f'"{v}"' if "," in v else v for v in values)

    @property
    def day(self) -> date:
        return self.event_at.date()


START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 5
PRODUCTS = {
    # id: (name, category, price)
    1: ("Desk Lamp", "home", Decimal("19.99")),
    2: ("Ergonomic Chair", "furniture", Decimal("199.90")),
    3: ("Coffee Beans, 1kg", "grocery", Decimal("14.35")),
    4: ("USB-C Cable", "electronics", Decimal("7.49")),
    5: ("Notebook", "office", Decimal("3.10")),
    6: ("Headphones", "electronics", Decimal("89.00")),
    7: ("Water Bottle", "sports", Decimal("12.00")),
    8: ("Plant Pot", "home", Decimal("0.99")),
}
BUY_ONLY_PRODUCT = (9, "Gift Card", "gifts", Decimal("25.00"))  # never viewed: null view rates
VIEW_ONLY_PRODUCT = (10, "Concept Car", "vehicles", Decimal("99999.99"))  # never bought
USERS = 30


def _product(product_id: int, at: datetime) -> tuple[str, str, Decimal]:
    if product_id == BUY_ONLY_PRODUCT[0]:
        return BUY_ONLY_PRODUCT[1:]
    if product_id == VIEW_ONLY_PRODUCT[0]:
        return VIEW_ONLY_PRODUCT[1:]
    name, category, price = PRODUCTS[product_id]
    if product_id == 3 and at >= START + timedelta(days=2):
        price = Decimal("15.05")  # price change: dim_products shows the latest
    if product_id == 5 and at >= START + timedelta(days=3):
        name = "Notebook A5"  # renamed
    return name, category, price


def _user_name(user_id: int, at: datetime) -> str:
    if user_id == 7 and at >= START + timedelta(days=2, hours=12):
        return "Grace Hopper-Renamed"
    return f"User {user_id:03d}"


def _time_text(rng: random.Random, at: datetime) -> str:
    """event_time as a producer might write it: UTC with Z, or local time with an offset."""
    offset_hours = rng.choice([0, 0, 0, 2, -5, 5.5])
    shifted = at + timedelta(hours=offset_hours)
    text = shifted.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += f".{at.microsecond:06d}"
    if offset_hours == 0:
        return text + "Z"
    minutes = int(abs(offset_hours) * 60)
    sign = "+" if offset_hours > 0 else "-"
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def make_events(seed: int, sessions: int = 240) -> list[Event]:
    """Sessions of views, carts and purchases over DAYS days, in event-time order."""
    rng = random.Random(seed)
    events: list[Event] = []

    def add(kind: str, user: int, product: int, at: datetime, session: str, quantity: int = 1):
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        events.append(
            _event(event_id, kind, user, product, at, _time_text(rng, at), session, quantity)
        )

    for number in range(sessions):
        session = f"s-{seed}-{number:04d}"
        user = rng.randint(1, USERS)
        if number % 40 == 0:  # a session across midnight UTC
            at = START + timedelta(days=rng.randrange(DAYS - 1), hours=23, minutes=50)
        else:
            at = START + timedelta(seconds=rng.randrange(DAYS * 86400 - 7200))
        if rng.random() < 0.3:
            at += timedelta(microseconds=rng.randrange(1, 1_000_000))
        for _ in range(rng.randint(1, 3)):
            product = rng.choice(list(PRODUCTS))
            if rng.random() < 0.15:  # a cart before any view: not "carted after view"
                add("add_to_cart", user, product, at, session)
                at += timedelta(seconds=rng.randint(1, 120))
            for _ in range(rng.randint(1, 3)):
                add("view", user, product, at, session)
                at += timedelta(seconds=rng.randint(1, 300))
            if rng.random() < 0.5:
                add("add_to_cart", user, product, at, session)
                if rng.random() < 0.6:
                    if rng.random() > 0.3:  # 30%: purchase at the cart's very instant
                        at += timedelta(seconds=rng.randint(1, 600))
                    add("purchase", user, product, at, session, rng.randint(1, 4))
                at += timedelta(seconds=rng.randint(1, 300))
        if number % 25 == 3:
            add("purchase", user, BUY_ONLY_PRODUCT[0], at, session, rng.randint(1, 2))
        if number % 30 == 5:
            add("view", user, VIEW_ONLY_PRODUCT[0], at, session)
    events.sort(key=lambda e: (e.event_at, e.event_id))
    return events


def _event(
    event_id: str,
    kind: str,
    user: int,
    product: int,
    at: datetime,
    time_text: str,
    session: str,
    quantity: int,
) -> Event:
    """An event of ``product`` as described at ``at`` (its name, category, price of then)."""
    name, category, price = _product(product, at)
    return Event(
        event_id=event_id,
        event_type=kind,
        user_id=user,
        user_name=_user_name(user, at),
        product_id=product,
        product_name=name,
        category=category,
        price=price,
        quantity=quantity,
        event_at=at,
        session_id=session,
        time_text=time_text,
    )


def _scenario_event(
    number: int, kind: str, user: int, product: int, time_text: str, session: str, quantity: int = 1
) -> Event:
    at = contract.parse_timestamp(time_text)
    return _event(
        f"5ce0a000-0000-4000-8000-{number:012d}",
        kind,
        user,
        product,
        at,
        time_text,
        session,
        quantity,
    )


def incremental_scenarios() -> tuple[list[Event], list[Event]]:
    """Events that only come out right if an incremental run recomputes the right days.

    Returns (events of the first load, events arriving after the first build):
    a - a session views a product at 23:50 UTC; after the build it buys it
        after midnight: the pair's day (the earlier one) must change although
        the new events are on the next day;
    b - a session views and carts a product; after the build a late view of
        the day before arrives (written with a +02:00 offset): the pair's first
        view and the session's first day move one day back, and the later day
        must lose them;
    c - a late event of user 7 under the old name, older than the renaming:
        the user keeps the new name;
    d - a session carts, then views, then buys a product: it is not "carted
        after view"; after the build a late view earlier than the cart arrives:
        the cart now follows a view and the purchase that cart, so the
        session moves up two funnel steps without any new cart or purchase.
    """
    first = [
        _scenario_event(1, "view", 3, 2, "2024-03-02T23:50:00Z", "scn-a"),
        _scenario_event(2, "view", 4, 4, "2024-03-04T10:00:00Z", "scn-b"),
        _scenario_event(3, "add_to_cart", 4, 4, "2024-03-04T10:05:00Z", "scn-b"),
        _scenario_event(4, "purchase", 7, 1, "2024-03-05T12:00:00Z", "scn-c0", 1),
        _scenario_event(10, "add_to_cart", 5, 5, "2024-03-04T11:00:00Z", "scn-d"),
        _scenario_event(11, "view", 5, 5, "2024-03-04T11:10:00Z", "scn-d"),
        _scenario_event(12, "purchase", 5, 5, "2024-03-04T11:20:00Z", "scn-d", 1),
    ]
    rest = [
        _scenario_event(5, "add_to_cart", 3, 2, "2024-03-03T00:05:00Z", "scn-a"),
        _scenario_event(6, "purchase", 3, 2, "2024-03-03T00:10:00Z", "scn-a", 2),
        _scenario_event(7, "view", 4, 4, "2024-03-03T09:00:00+02:00", "scn-b"),
        _scenario_event(8, "purchase", 4, 4, "2024-03-04T10:06:00Z", "scn-b", 1),
        _scenario_event(9, "view", 7, 3, "2024-03-01T08:00:00Z", "scn-c"),
        _scenario_event(13, "view", 5, 6, "2024-03-04T10:50:00Z", "scn-d"),
    ]
    return first, rest


INVALID_LINES = [
    "not-a-uuid,view,1,User 001,1,Desk Lamp,home,19.99,1,2024-03-01T10:00:00Z,s-x",
    "0b9c1b7e-6a51-4b8e-9f10-0123456789ab,refund,1,User 001,1,Desk Lamp,home,19.99,1,2024-03-01T10:00:00Z,s-x",
    "0b9c1b7e-6a51-4b8e-9f10-0123456789ac,purchase,1,User 001,1,Desk Lamp,home,-5.00,1,2024-03-01T10:00:00Z,s-x",
    "0b9c1b7e-6a51-4b8e-9f10-0123456789ad,purchase,1,User 001,1,Desk Lamp,home,19.99,0,2024-03-01T10:00:00Z,s-x",
    "0b9c1b7e-6a51-4b8e-9f10-0123456789ae,view,1,User 001,1,Desk Lamp,home,19.99,1,2024-03-01 10:00:00,s-x",
    "0b9c1b7e-6a51-4b8e-9f10-0123456789af,view,1,User 001,1,Desk Lamp,home,19.99,1",
    ",view,1,User 001,1,Desk Lamp,home,19.99,1,2024-03-01T10:00:00Z,s-x",
]


def plan_files(
    events: list[Event], seed: int, files: int = 6, late_since: datetime | None = None
) -> list[list[str]]:
    """Spread events over `files` CSV files in (mostly) arrival order.

    About 6% of events (of those at or after `late_since`, if given) arrive
    late, in the last file; about 4% are replayed verbatim in a later file (or
    the same one); invalid lines are sprinkled in.
    """
    rng = random.Random(seed + 1)
    late_flags = [
        rng.random() < 0.06 and (late_since is None or e.event_at >= late_since) for e in events
    ]
    on_time = [e for e, is_late in zip(events, late_flags, strict=True) if not is_late]
    late = [e for e, is_late in zip(events, late_flags, strict=True) if is_late]
    size = -(-len(on_time) // files)
    chunks = [[e.line() for e in on_time[i * size : (i + 1) * size]] for i in range(files)]
    chunks[-1].extend(e.line() for e in late)
    for index, chunk in enumerate(list(chunks)):
        for line in list(chunk):
            if rng.random() < 0.04:
                chunks[rng.randrange(index, files)].append(line)
    for number, line in enumerate(INVALID_LINES):
        chunks[number % files].insert(rng.randrange(len(chunks[number % files]) + 1), line)
    return chunks


def write_files(folder: Path, chunks: list[list[str]], first_number: int = 1) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for offset, chunk in enumerate(chunks):
        path = folder / f"events-{first_number + offset:04d}.csv"
        path.write_text(contract.CSV_HEADER + "\n" + "\n".join(chunk) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- the reference


def valid_events(chunks: list[list[str]]) -> list[Event]:
    """The distinct valid events in the files, parsed independently of the warehouse."""
    seen: dict[str, Event] = {}
    for chunk in chunks:
        for line in chunk:
            if contract.validate_line(line):
                continue
            values = next(csv.reader([line]))
            event_id = values[0].lower()
            if event_id in seen:
                continue
            seen[event_id] = Event(
                event_id=event_id,
                event_type=values[1],
                user_id=int(values[2]),
                user_name=values[3],
                product_id=int(values[4]),
                product_name=values[5],
                category=values[6],
                price=Decimal(values[7]),
                quantity=int(values[8]),
                event_at=contract.parse_timestamp(values[9]),
                session_id=values[10],
                time_text=values[9],
            )
    return list(seen.values())


def ratio(numerator, denominator, quantum=RATE):
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(quantum, rounding=ROUND_HALF_UP)


def expected_marts(events: list[Event]) -> dict[str, list[dict]]:
    """What each mart must hold for these (valid, distinct) events."""
    by_product: dict[int, list[Event]] = defaultdict(list)
    by_product_day: dict[tuple[int, date], list[Event]] = defaultdict(list)
    by_day: dict[date, list[Event]] = defaultdict(list)
    by_session: dict[str, list[Event]] = defaultdict(list)
    by_pair: dict[tuple[str, int], list[Event]] = defaultdict(list)
    by_user: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        by_product[e.product_id].append(e)
        by_product_day[(e.product_id, e.day)].append(e)
        by_day[e.day].append(e)
        by_session[e.session_id].append(e)
        by_pair[(e.session_id, e.product_id)].append(e)
        by_user[e.user_id].append(e)

    def count(evs, kind):
        return sum(1 for e in evs if e.event_type == kind)

    def purchases(evs):
        return [e for e in evs if e.event_type == "purchase"]

    def revenue(evs):
        return sum((e.price * e.quantity for e in purchases(evs)), Decimal("0")).quantize(CENT)

    # session x product pairs, counted on the day of their first view
    pair_day: dict[tuple[int, date], list[bool]] = defaultdict(list)
    for (_, product_id), evs in by_pair.items():
        views = [e.event_at for e in evs if e.event_type == "view"]
        if not views:
            continue
        bought = [e.event_at for e in purchases(evs)]
        pair_day[(product_id, min(views).date())].append(bool(bought) and max(bought) >= min(views))

    product_daily = []
    for (product_id, day), evs in sorted(by_product_day.items()):
        last = max(evs, key=lambda e: (e.event_at, e.event_id))
        bought = purchases(evs)
        pairs = pair_day.get((product_id, day), [])
        product_daily.append(
            {
                "product_id": product_id,
                "event_date": day,
                "product_name": last.product_name,
                "category": last.category,
                "unit_price": last.price,
                "views": count(evs, "view"),
                "add_to_carts": count(evs, "add_to_cart"),
                "purchases": len(bought),
                "units": sum(e.quantity for e in bought),
                "revenue": revenue(evs),
                "sessions_viewed": len(pairs),
                "sessions_purchased_after_view": sum(pairs),
                "first_event_at": min(e.event_at for e in evs),
                "last_event_at": max(e.event_at for e in evs),
                "first_purchase_at": min((e.event_at for e in bought), default=None),
                "last_purchase_at": max((e.event_at for e in bought), default=None),
            }
        )

    # sessions, counted on the day of their first event; ordered, nested funnel
    session_day: dict[date, list[tuple[bool, bool, bool]]] = defaultdict(list)
    for evs in by_session.values():
        views = [e.event_at for e in evs if e.event_type == "view"]
        viewed = bool(views)
        carts = [e.event_at for e in evs if e.event_type == "add_to_cart" and viewed]
        carts = [t for t in carts if t >= min(views)] if viewed else []
        carted = bool(carts)
        bought = [e.event_at for e in purchases(evs)]
        purchased = carted and bool(bought) and max(bought) >= min(carts)
        session_day[min(e.event_at for e in evs).date()].append((viewed, carted, purchased))

    funnel_daily = []
    for day, evs in sorted(by_day.items()):
        steps = session_day.get(day, [])
        viewed = sum(s[0] for s in steps)
        carted = sum(s[1] for s in steps)
        bought = sum(s[2] for s in steps)
        funnel_daily.append(
            {
                "event_date": day,
                "views": count(evs, "view"),
                "add_to_carts": count(evs, "add_to_cart"),
                "purchases": count(evs, "purchase"),
                "units": sum(e.quantity for e in purchases(evs)),
                "revenue": revenue(evs),
                "active_users": len({e.user_id for e in evs}),
                "sessions": len(steps),
                "sessions_viewed": viewed,
                "sessions_carted": carted,
                "sessions_purchased": bought,
                "session_view_to_cart_rate": ratio(carted, viewed),
                "session_cart_to_purchase_rate": ratio(bought, carted),
                "session_conversion_rate": ratio(bought, viewed),
            }
        )

    dim_products, revenue_by_product, conversion = [], [], []
    for product_id, evs in sorted(by_product.items()):
        last = max(evs, key=lambda e: (e.event_at, e.event_id))
        bought = purchases(evs)
        units = sum(e.quantity for e in bought)
        total = revenue(evs)
        views, carts = count(evs, "view"), count(evs, "add_to_cart")
        pairs = [flag for (p, _), flags in pair_day.items() if p == product_id for flag in flags]
        dim_products.append(
            {
                "product_id": product_id,
                "product_name": last.product_name,
                "category": last.category,
                "unit_price": last.price,
                "first_seen_at": min(e.event_at for e in evs),
                "last_seen_at": max(e.event_at for e in evs),
            }
        )
        revenue_by_product.append(
            {
                "product_id": product_id,
                "product_name": last.product_name,
                "category": last.category,
                "orders": len(bought),
                "units": units,
                "revenue": total,
                "avg_selling_price": ratio(total, units, CENT),
                "first_purchase_at": min((e.event_at for e in bought), default=None),
                "last_purchase_at": max((e.event_at for e in bought), default=None),
            }
        )
        conversion.append(
            {
                "product_id": product_id,
                "product_name": last.product_name,
                "category": last.category,
                "views": views,
                "add_to_carts": carts,
                "purchases": len(bought),
                "view_to_cart_rate": ratio(carts, views),
                "cart_to_purchase_rate": ratio(len(bought), carts),
                "view_to_purchase_rate": ratio(len(bought), views),
                "sessions_viewed": len(pairs),
                "sessions_purchased_after_view": sum(pairs),
                "session_conversion_rate": ratio(sum(pairs), len(pairs)),
            }
        )

    dim_users = []
    for user_id, evs in sorted(by_user.items()):
        last = max(evs, key=lambda e: (e.event_at, e.user_name))
        dim_users.append(
            {
                "user_id": user_id,
                "user_name": last.user_name,
                "first_seen_at": min(e.event_at for e in evs),
                "last_seen_at": max(e.event_at for e in evs),
                "events": len(evs),
                "orders": len(purchases(evs)),
                "revenue": revenue(evs),
            }
        )

    by_hour: dict[datetime, list[Event]] = defaultdict(list)
    for e in events:
        by_hour[e.event_at.replace(minute=0, second=0, microsecond=0)].append(e)
    revenue_hourly = [
        {
            "event_hour": hour,
            "events": len(evs),
            "orders": len(purchases(evs)),
            "units": sum(e.quantity for e in purchases(evs)),
            "revenue": revenue(evs),
            "last_event_at": max(e.event_at for e in evs),
        }
        for hour, evs in sorted(by_hour.items())
    ]
    return {
        "top_converting_products": top_converting(conversion),
        "fct_revenue_hourly": revenue_hourly,
        "fct_product_daily": product_daily,
        "fct_funnel_daily": funnel_daily,
        "dim_products": dim_products,
        "dim_users": dim_users,
        "revenue_by_product": revenue_by_product,
        "conversion_rate_by_product": conversion,
    }


def top_converting(conversion: list[dict], ranking_min_views: int = 20) -> list[dict]:
    """marts.top_converting_products from conversion_rate_by_product's rows: products with
    at least min_views views (20, or the 90th percentile of views, PostgreSQL's
    percentile_disc, when lower; at least 1) and a purchase, best view-to-purchase first."""
    views = sorted(row["views"] for row in conversion)
    percentile = views[math.ceil(0.9 * len(views)) - 1] if views else 0
    least = max(min(ranking_min_views, percentile), 1)
    kept = [row for row in conversion if row["views"] >= least and row["purchases"] > 0]
    kept.sort(key=lambda row: (-row["view_to_purchase_rate"], -row["views"], row["product_id"]))
    columns = [
        "product_id",
        "product_name",
        "category",
        "views",
        "add_to_carts",
        "purchases",
        "view_to_cart_rate",
        "cart_to_purchase_rate",
        "view_to_purchase_rate",
        "session_conversion_rate",
    ]
    return [
        {**{name: row[name] for name in columns}, "min_views": least, "conversion_rank": rank}
        for rank, row in enumerate(kept, start=1)
    ]
