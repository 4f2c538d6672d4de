"""The shop: a catalog of products and a population of users, built once per seed.

Faker is slow (thousands of calls per second), so it is only used here, to
build pools of names once; events are then drawn from these pools with plain
``random``. Everything the event generator needs per row is precomputed as a
CSV-ready string (quoted where needed), so a row is a few string joins.

Products have a stable price and two propensities that vary by category and
by product: how likely a view leads to an add-to-cart (``cart_rate``), and how
likely a carted product is bought (``buy_rate``). Popularity (how often a
product is viewed) is skewed, as in real shops.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass

from faker import Faker

from pipeline import contract


@dataclass(frozen=True)
class Category:
    name: str
    min_price: float
    max_price: float
    traffic: float  # share of the views
    cart_rate: float  # base probability that a view leads to an add-to-cart
    buy_rate: float  # base probability that a carted product is bought
    nouns: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "Electronics",
        15,
        1500,
        0.18,
        0.07,
        0.30,
        ("Headphones", "Speaker", "Smartwatch", "Charger", "Keyboard", "Monitor", "Webcam"),
    ),
    Category(
        "Books", 6, 60, 0.10, 0.14, 0.45, ("Novel", "Cookbook", "Biography", "Atlas", "Memoir")
    ),
    Category(
        "Home & Kitchen",
        8,
        400,
        0.12,
        0.10,
        0.40,
        ("Blender", "Kettle", "Skillet", "Knife Set", "Toaster", "Coffee Maker"),
    ),
    Category(
        "Clothing",
        8,
        250,
        0.14,
        0.12,
        0.35,
        ("T-Shirt", "Hoodie", "Jacket", "Jeans", "Sneakers", "Scarf", "Dress"),
    ),
    Category(
        "Beauty",
        4,
        120,
        0.08,
        0.16,
        0.45,
        ("Moisturizer", "Serum", "Shampoo", "Lipstick", "Perfume", "Sunscreen"),
    ),
    Category(
        "Sports & Outdoors",
        10,
        800,
        0.09,
        0.09,
        0.35,
        ("Yoga Mat", "Tent", "Dumbbell", "Bike Helmet", "Backpack", "Running Shoes"),
    ),
    Category(
        "Toys & Games",
        5,
        200,
        0.08,
        0.13,
        0.40,
        ("Puzzle", "Board Game", "Building Set", "Plush Bear", "RC Car"),
    ),
    Category(
        "Grocery",
        1,
        50,
        0.07,
        0.22,
        0.55,
        ("Coffee Beans", "Olive Oil", "Green Tea", "Dark Chocolate", "Honey", "Granola"),
    ),
    Category(
        "Garden", 5, 600, 0.06, 0.09, 0.35, ("Hose", "Planter", "Pruner", "Lawn Mower", "Seed Kit")
    ),
    Category(
        "Automotive",
        8,
        700,
        0.08,
        0.06,
        0.30,
        ("Dash Cam", "Car Vacuum", "Floor Mats", "Jump Starter", "Tire Inflator"),
    ),
)

ADJECTIVES = (
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Essential",
    "Everyday",
    "Premium",
    "Pro",
    "Smart",
    "Ultra",
    "Vintage",
    "Wireless",
)

DEFAULT_PRODUCTS = 500
DEFAULT_USERS = 10_000


@dataclass(frozen=True)
class Product:
    product_id: int
    name: str
    category: str
    price_cents: int
    cart_rate: float
    buy_rate: float
    popularity: float

    @property
    def price(self) -> str:
        """The price as the contract spells it: exactly two decimals."""
        return format_cents(self.price_cents)

    @property
    def csv(self) -> str:
        """``product_id,product_name,category,price``, quoted where needed."""
        return ",".join(
            (str(self.product_id), csv_field(self.name), csv_field(self.category), self.price)
        )


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    favourite_category: int  # index into CATEGORIES
    activity: float  # relative number of sessions

    @property
    def csv(self) -> str:
        """``user_id,user_name``, quoted where needed."""
        return f"{self.user_id},{csv_field(self.name)}"


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    users: tuple[User, ...]
    # Weighted draws in O(1): indices repeated in proportion to their weight, so a
    # uniform pick from the tuple is a weighted pick (see _slots).
    category_picks: tuple[tuple[int, ...], ...]  # per category: products by popularity
    category_slots: tuple[int, ...]  # categories by traffic
    user_slots: tuple[int, ...]  # users by activity


def format_cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def csv_field(value: str) -> str:
    """Quote a value the way csv.QUOTE_MINIMAL does (the pools never contain quotes)."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _clean(text: str) -> str:
    """One line of plain text: no quotes, backslashes or line breaks, within the contract."""
    for ch in '"\\\r\n\t':
        text = text.replace(ch, " ")
    return " ".join(text.split())[: contract.TEXT_MAX_LENGTH]


def _charm_price(rng: random.Random, category: Category) -> int:
    """A log-uniform price in the category's range, ending in .99, .49, .95 or .00."""
    low, high = math.log(category.min_price), math.log(category.max_price)
    whole = max(int(math.exp(rng.uniform(low, high))), 1)
    return whole * 100 + rng.choice((99, 99, 99, 49, 95, 0)) - (100 if whole > 1 else 0)


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@functools.lru_cache(maxsize=4)
def build(
    seed: int, products: int = DEFAULT_PRODUCTS, users: int = DEFAULT_USERS, locale: str = "en_US"
) -> Catalog:
    """The catalog for ``seed``: same seed, same shop (cached per process)."""
    if products < 1 or users < 1:
        raise ValueError("a catalog needs at least one product and one user")
    fake = Faker(locale)
    fake.seed_instance(seed)
    rng = random.Random(f"{seed}:catalog")

    brands = [_clean(fake.last_name()) for _ in range(max(products // 4, 1))]
    colours = [_clean(fake.safe_color_name()).title() for _ in range(40)]
    # Every category gets its share of the products, in a shuffled order of ids.
    category_of = [index % len(CATEGORIES) for index in range(products)]
    rng.shuffle(category_of)
    product_list: list[Product] = []
    for index in range(products):
        category = CATEGORIES[category_of[index]]
        name = f"{rng.choice(brands)} {rng.choice(ADJECTIVES)} {rng.choice(category.nouns)}"
        if rng.random() < 0.15:  # a variant: the comma makes the field quoted in the CSV
            name = f"{name}, {rng.choice(colours)}"
        product_list.append(
            Product(
                product_id=index + 1,
                name=name,
                category=category.name,
                price_cents=_charm_price(rng, category),
                cart_rate=_clip(category.cart_rate * rng.lognormvariate(0, 0.5), 0.005, 0.6),
                buy_rate=_clip(category.buy_rate * rng.lognormvariate(0, 0.4), 0.02, 0.9),
                popularity=rng.paretovariate(1.3),
            )
        )

    first_names = [_clean(fake.first_name()) for _ in range(min(users, 700))]
    last_names = [_clean(fake.last_name()) for _ in range(min(users, 900))]
    user_list = [
        User(
            user_id=index + 1,
            name=f"{rng.choice(first_names)} {rng.choice(last_names)}",
            favourite_category=rng.randrange(len(CATEGORIES)),
            activity=rng.lognormvariate(0, 1),
        )
        for index in range(users)
    ]

    picks: list[tuple[int, ...]] = []
    for category in CATEGORIES:
        members = [i for i, p in enumerate(product_list) if p.category == category.name]
        if not members:
            members = list(range(len(product_list)))  # a tiny catalog: any product will do
        weights = _slots([product_list[i].popularity for i in members], 2000)
        picks.append(tuple(members[slot] for slot in weights))

    return Catalog(
        products=tuple(product_list),
        users=tuple(user_list),
        category_picks=tuple(picks),
        category_slots=_slots([c.traffic for c in CATEGORIES], 1000),
        user_slots=_slots([u.activity for u in user_list], 10 * len(user_list)),
    )


def _slots(weights: list[float], size: int) -> tuple[int, ...]:
    """Each index repeated in proportion to its weight (at least once), about ``size`` in all."""
    total = sum(weights)
    slots: list[int] = []
    for index, weight in enumerate(weights):
        slots.extend([index] * max(1, round(weight / total * size)))
    return tuple(slots)
