"""Rows for ``bakery_chain``: six bakeries, their staff, recipes, customers and 18 months of orders."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta

SHOPS = [
    # name, city, street address, opened_on, has_cafe
    ("Crumb & Co. Market Street", "Leeds", "14 Market Street", "2012-04-02", 1),
    ("Crumb & Co. Headingley", "Leeds", "201 Otley Road", "2015-09-19", 1),
    ("Crumb & Co. York Minster", "York", "3 Low Petergate", "2017-03-11", 1),
    ("Crumb & Co. Harrogate", "Harrogate", "48 Station Parade", "2019-06-01", 0),
    ("Crumb & Co. Sheffield Kelham", "Sheffield", "9 Green Lane", "2021-11-27", 1),
    ("Crumb & Co. Ilkley", "Ilkley", "22 The Grove", "2023-10-14", 0),
]
FIRST_ORDER_DAY = date(2023, 1, 1)
LAST_ORDER_DAY = date(2024, 6, 30)
PRICE_RISE_DAY = date(2024, 1, 1)

SUPPLIERS = [
    ("Yorkshire Mills Ltd", "United Kingdom", "+44 113 496 0021"),
    ("Dales Dairy Co-operative", "United Kingdom", "+44 1756 700 310"),
    ("Moulin de la Vallée", "France", "+33 2 41 55 18 90"),
    ("Ghana Cocoa Traders", "Ghana", None),
    ("Hof Bergmann Eier", "Germany", "+49 521 443 120"),
    ("Sicilia Frutta Secca", "Italy", None),
    ("Northern Roasters", "United Kingdom", "+44 114 2880 519"),
    ("Oatly-ish Foods AB", "Sweden", "+46 40 610 77 00"),
]

INGREDIENTS = [
    # name, unit, cost per unit, allergen, supplier index
    ("Strong white flour", "kg", 0.92, "gluten", 0),
    ("Wholemeal flour", "kg", 1.05, "gluten", 0),
    ("Rye flour", "kg", 1.38, "gluten", 0),
    ("French T55 flour", "kg", 1.64, "gluten", 2),
    ("Butter", "kg", 7.80, "milk", 1),
    ("Whole milk", "l", 0.95, "milk", 1),
    ("Double cream", "l", 3.90, "milk", 1),
    ("Cream cheese", "kg", 6.40, "milk", 1),
    ("Free-range eggs", "each", 0.29, "egg", 4),
    ("Caster sugar", "kg", 1.10, None, 0),
    ("Dark chocolate", "kg", 11.50, "milk", 3),
    ("Cocoa powder", "kg", 9.20, None, 3),
    ("Almonds", "kg", 12.40, "nuts", 5),
    ("Pistachios", "kg", 31.00, "nuts", 5),
    ("Hazelnuts", "kg", 14.20, "nuts", 5),
    ("Fresh yeast", "kg", 4.10, None, 2),
    ("Sea salt", "kg", 1.90, None, 0),
    ("Sesame seeds", "kg", 6.80, "sesame", 5),
    ("Oat drink", "l", 1.60, None, 7),
    ("Vegan block butter", "kg", 6.10, None, 7),
    ("Espresso beans", "kg", 21.00, None, 6),
    ("Cheddar", "kg", 9.40, "milk", 1),
    ("Smoked ham", "kg", 13.50, None, 1),
    ("Spinach", "kg", 4.20, None, 0),
    ("Raspberries", "kg", 10.50, None, 5),
    ("Lemons", "each", 0.35, None, 5),
    ("Cinnamon", "kg", 18.00, None, 5),
    ("Cardamom", "kg", 42.00, None, 5),
    ("Olive oil", "l", 8.90, None, 5),
    ("Loose-leaf tea", "kg", 24.00, None, 6),
]

PRODUCTS = [
    # name, category, price in 2023, vegan, launched, discontinued, recipe (ingredient, quantity)
    ("Sourdough Loaf", "Bread", 4.20, 1, "Apr 2012", 0, [("Strong white flour", 0.5), ("Sea salt", 0.01)]),
    (
        "Seeded Rye",
        "Bread",
        4.60,
        1,
        "Apr 2012",
        0,
        [("Rye flour", 0.35), ("Strong white flour", 0.15), ("Sesame seeds", 0.03), ("Sea salt", 0.01)],
    ),
    (
        "Wholemeal Tin",
        "Bread",
        3.40,
        1,
        "Jun 2013",
        0,
        [("Wholemeal flour", 0.5), ("Fresh yeast", 0.01), ("Sea salt", 0.01)],
    ),
    (
        "Baguette",
        "Bread",
        2.10,
        1,
        "Apr 2012",
        0,
        [("French T55 flour", 0.25), ("Fresh yeast", 0.005), ("Sea salt", 0.005)],
    ),
    (
        "Focaccia",
        "Bread",
        3.80,
        1,
        "Sep 2018",
        0,
        [("Strong white flour", 0.3), ("Olive oil", 0.04), ("Sea salt", 0.01), ("Fresh yeast", 0.006)],
    ),
    (
        "Brioche Loaf",
        "Bread",
        4.90,
        0,
        "Feb 2016",
        0,
        [("French T55 flour", 0.3), ("Butter", 0.12), ("Free-range eggs", 3), ("Caster sugar", 0.04)],
    ),
    (
        "Croissant",
        "Viennoiserie",
        2.30,
        0,
        "Apr 2012",
        0,
        [("French T55 flour", 0.06), ("Butter", 0.035), ("Whole milk", 0.02), ("Fresh yeast", 0.002)],
    ),
    (
        "Pain au Chocolat",
        "Viennoiserie",
        2.60,
        0,
        "Apr 2012",
        0,
        [("French T55 flour", 0.06), ("Butter", 0.035), ("Dark chocolate", 0.012)],
    ),
    (
        "Almond Croissant",
        "Viennoiserie",
        3.20,
        0,
        "Nov 2014",
        0,
        [("French T55 flour", 0.06), ("Butter", 0.04), ("Almonds", 0.025), ("Caster sugar", 0.015)],
    ),
    (
        "Cinnamon Bun",
        "Viennoiserie",
        2.90,
        0,
        "Jan 2017",
        0,
        [("Strong white flour", 0.07), ("Butter", 0.03), ("Cinnamon", 0.002), ("Caster sugar", 0.02)],
    ),
    (
        "Cardamom Knot",
        "Viennoiserie",
        3.10,
        0,
        "Oct 2020",
        0,
        [("Strong white flour", 0.07), ("Butter", 0.03), ("Cardamom", 0.002), ("Caster sugar", 0.02)],
    ),
    (
        "Vegan Croissant",
        "Viennoiserie",
        2.50,
        1,
        "Jan 2022",
        0,
        [("French T55 flour", 0.06), ("Vegan block butter", 0.035), ("Oat drink", 0.02)],
    ),
    (
        "Pistachio Swirl",
        "Viennoiserie",
        3.60,
        0,
        "May 2023",
        0,
        [("French T55 flour", 0.06), ("Butter", 0.035), ("Pistachios", 0.015)],
    ),
    (
        "Raspberry Danish",
        "Viennoiserie",
        3.00,
        0,
        "Jul 2019",
        1,
        [("French T55 flour", 0.06), ("Butter", 0.03), ("Raspberries", 0.03), ("Cream cheese", 0.02)],
    ),
    (
        "Lemon Drizzle Slice",
        "Cake",
        3.20,
        0,
        "Apr 2012",
        0,
        [
            ("Strong white flour", 0.04),
            ("Butter", 0.03),
            ("Free-range eggs", 1),
            ("Lemons", 0.25),
            ("Caster sugar", 0.04),
        ],
    ),
    (
        "Chocolate Brownie",
        "Cake",
        3.40,
        0,
        "Mar 2013",
        0,
        [("Dark chocolate", 0.04), ("Butter", 0.03), ("Free-range eggs", 1), ("Caster sugar", 0.04)],
    ),
    (
        "Carrot Cake Slice",
        "Cake",
        3.90,
        0,
        "Aug 2015",
        0,
        [("Wholemeal flour", 0.04), ("Cream cheese", 0.03), ("Free-range eggs", 1), ("Cinnamon", 0.001)],
    ),
    (
        "Vegan Chocolate Cake Slice",
        "Cake",
        4.10,
        1,
        "Jan 2021",
        0,
        [("Strong white flour", 0.04), ("Cocoa powder", 0.015), ("Oat drink", 0.05), ("Olive oil", 0.02)],
    ),
    (
        "Hazelnut Financier",
        "Cake",
        2.40,
        0,
        "Sep 2021",
        1,
        [("Hazelnuts", 0.02), ("Butter", 0.02), ("Free-range eggs", 1), ("Caster sugar", 0.02)],
    ),
    (
        "Raspberry Tart",
        "Cake",
        4.50,
        0,
        "Jun 2016",
        0,
        [("French T55 flour", 0.04), ("Butter", 0.03), ("Raspberries", 0.05), ("Double cream", 0.04)],
    ),
    (
        "Cheese & Ham Toastie",
        "Savoury",
        5.80,
        0,
        "Apr 2012",
        0,
        [("Sourdough Loaf", 0), ("Cheddar", 0.05), ("Smoked ham", 0.05)],
    ),
    (
        "Spinach & Feta Roll",
        "Savoury",
        4.20,
        0,
        "Feb 2019",
        0,
        [("French T55 flour", 0.06), ("Butter", 0.03), ("Spinach", 0.05), ("Cheddar", 0.02)],
    ),
    (
        "Sausage Roll",
        "Savoury",
        3.60,
        0,
        "Apr 2012",
        0,
        [("French T55 flour", 0.06), ("Butter", 0.035), ("Smoked ham", 0.06)],
    ),
    (
        "Vegan Sausage Roll",
        "Savoury",
        3.60,
        1,
        "Jan 2020",
        0,
        [("French T55 flour", 0.06), ("Vegan block butter", 0.035), ("Spinach", 0.04)],
    ),
    (
        "Cheese Scone",
        "Savoury",
        2.40,
        0,
        "Apr 2012",
        1,
        [("Strong white flour", 0.06), ("Butter", 0.02), ("Cheddar", 0.025), ("Whole milk", 0.02)],
    ),
    ("Espresso", "Drink", 2.20, 1, "Apr 2012", 0, [("Espresso beans", 0.018)]),
    ("Flat White", "Drink", 3.20, 0, "Apr 2012", 0, [("Espresso beans", 0.018), ("Whole milk", 0.15)]),
    ("Oat Latte", "Drink", 3.50, 1, "Mar 2019", 0, [("Espresso beans", 0.018), ("Oat drink", 0.22)]),
    ("Hot Chocolate", "Drink", 3.40, 0, "Apr 2012", 0, [("Cocoa powder", 0.025), ("Whole milk", 0.25)]),
    ("Pot of Tea", "Drink", 2.60, 1, "Apr 2012", 0, [("Loose-leaf tea", 0.006)]),
]
DISCONTINUED_AFTER = date(2023, 9, 30)
# Products launched during the order period are only sold from their launch month on.
LAUNCHED_IN_PERIOD = {"Pistachio Swirl": date(2023, 5, 1)}

# How often each category shows up in a basket, for shops with and without a cafe.
CATEGORY_WEIGHTS = {
    "Bread": (3, 5),
    "Viennoiserie": (5, 5),
    "Cake": (3, 3),
    "Savoury": (3, 3),
    "Drink": (6, 1),
}

FIRST_NAMES = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Freya",
    "Grace",
    "Aisha",
    "Priya",
    "Zara",
    "Chloe",
    "George",
    "Harry",
    "Oliver",
    "Jack",
    "Noah",
    "Arthur",
    "Leo",
    "Muhammad",
    "Oscar",
    "Charlie",
    "Rohan",
    "Callum",
    "Ellie",
    "Hannah",
    "Daniel",
    "Tom",
    "Sophie",
    "Lewis",
    "Megan",
    "Ben",
    "Fatima",
    "Sam",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Wilson",
    "Patel",
    "Khan",
    "Walker",
    "Wright",
    "Thompson",
    "Robinson",
    "Hughes",
    "Shaw",
    "Ahmed",
    "Clarke",
    "Atkinson",
    "Holroyd",
    "Sutcliffe",
    "Ackroyd",
    "O'Neill",
    "McDonald",
    "Hussain",
    "Begum",
    "Lee",
    "Marsden",
    "Booth",
    "Fletcher",
    "Dawson",
]
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "btinternet.com", "icloud.com"]

STAFF_SHAPE = [
    # role, how many (cafe shop, shop without cafe), hourly rate range
    ("Manager", (1, 1), (16.5, 19.0)),
    ("Baker", (3, 2), (12.8, 15.5)),
    ("Barista", (2, 0), (11.6, 12.9)),
    ("Counter Assistant", (4, 3), (11.44, 12.4)),
]


def _random_day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _staff(conn: sqlite3.Connection, rng: random.Random) -> dict[int, list[tuple[int, date, date | None]]]:
    """Insert employees; returns, per shop, the people who serve at the till and when."""
    tills: dict[int, list[tuple[int, date, date | None]]] = {}
    employee_id = 0
    for shop_id, (_, _, _, opened, cafe) in enumerate(SHOPS, 1):
        tills[shop_id] = []
        opened_day = date.fromisoformat(opened)
        for role, counts, (low, high) in STAFF_SHAPE:
            for _ in range(counts[0] if cafe else counts[1]):
                # Some staff leave during the period and are replaced by a later hire.
                hired = _random_day(rng, opened_day, max(opened_day, date(2022, 12, 31)))
                spells: list[tuple[date, date | None]] = [(hired, None)]
                if role != "Manager" and rng.random() < 0.3:
                    left = _random_day(rng, max(hired, FIRST_ORDER_DAY), date(2024, 3, 31))
                    spells = [(hired, left), (left + timedelta(days=rng.randint(7, 40)), None)]
                for start, end in spells:
                    employee_id += 1
                    conn.execute(
                        "INSERT INTO employees VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            employee_id,
                            shop_id,
                            rng.choice(FIRST_NAMES),
                            rng.choice(LAST_NAMES),
                            role,
                            start.isoformat(),
                            end.isoformat() if end else None,
                            round(rng.uniform(low, high), 2),
                        ),
                    )
                    if role != "Baker":
                        tills[shop_id].append((employee_id, start, end))
    return tills


def _catalogue(conn: sqlite3.Connection) -> None:
    for supplier_id, row in enumerate(SUPPLIERS, 1):
        conn.execute("INSERT INTO suppliers VALUES (?, ?, ?, ?)", (supplier_id, *row))
    ingredient_ids: dict[str, int] = {}
    for ingredient_id, (name, unit, cost, allergen, supplier) in enumerate(INGREDIENTS, 1):
        conn.execute(
            "INSERT INTO ingredients VALUES (?, ?, ?, ?, ?, ?)",
            (ingredient_id, name, unit, cost, allergen, supplier + 1),
        )
        ingredient_ids[name] = ingredient_id
    for product_id, (name, category, price, vegan, launched, gone, recipe) in enumerate(PRODUCTS, 1):
        current = _price_on(price, PRICE_RISE_DAY)
        conn.execute(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?)",
            (product_id, name, category, current, vegan, launched, gone),
        )
        for ingredient, quantity in recipe:
            if ingredient in ingredient_ids:  # the toastie's bread is not a bought-in ingredient
                conn.execute(
                    "INSERT INTO recipe_items VALUES (?, ?, ?)", (product_id, ingredient_ids[ingredient], quantity)
                )


def _price_on(price_2023: float, day: date) -> float:
    # Prices went up 10% (to the next 5p) on 1 January 2024.
    if day < PRICE_RISE_DAY:
        return price_2023
    return round(round(price_2023 * 1.10 / 0.05) * 0.05, 2)


def _customers(conn: sqlite3.Connection, rng: random.Random, count: int) -> list[tuple[int, int, date]]:
    customers: list[tuple[int, int, date]] = []
    for customer_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = None
        if rng.random() > 0.2:
            local = f"{first}.{last}".replace("'", "") if rng.random() < 0.5 else f"{first.lower()}{rng.randint(1, 99)}"
            email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
        tier = rng.choices(["Bronze", "Silver", "Gold"], weights=[60, 28, 12])[0]
        home = rng.randint(1, len(SHOPS))
        opened = date.fromisoformat(SHOPS[home - 1][3])
        joined = _random_day(rng, max(opened, date(2019, 1, 1)), date(2024, 5, 31))
        conn.execute(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
            (customer_id, f"{first} {last}", email, tier, joined.isoformat(), home),
        )
        customers.append((customer_id, home, joined))
    return customers


def _basket(rng: random.Random, cafe: int, day: date) -> list[tuple[int, int]]:
    available: list[int] = []
    weights: list[int] = []
    for product_id, (name, category, _, _, _, gone, _) in enumerate(PRODUCTS, 1):
        if gone and day > DISCONTINUED_AFTER:
            continue
        if name in LAUNCHED_IN_PERIOD and day < LAUNCHED_IN_PERIOD[name]:
            continue
        available.append(product_id)
        weights.append(CATEGORY_WEIGHTS[category][0 if cafe else 1])
    chosen: list[int] = []
    for _ in range(rng.choices([1, 2, 3, 4], weights=[40, 35, 18, 7])[0]):
        product_id = rng.choices(available, weights=weights)[0]
        if product_id not in chosen:
            chosen.append(product_id)
    lines: list[tuple[int, int]] = []
    for product_id in chosen:
        category = PRODUCTS[product_id - 1][1]
        most = {"Bread": 2, "Viennoiserie": 6, "Drink": 3}.get(category, 3)
        lines.append((product_id, rng.choices(range(1, most + 1), weights=range(most, 0, -1))[0]))
    return lines


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the bakery chain into ``conn`` (schema already created)."""
    for shop_id, row in enumerate(SHOPS, 1):
        conn.execute("INSERT INTO shops VALUES (?, ?, ?, ?, ?, ?)", (shop_id, *row))
    tills = _staff(conn, rng)
    _catalogue(conn)
    customers = _customers(conn, rng, 420)
    order_id = 0
    shop_weights = [5, 3, 4, 2, 3, 2]
    day = FIRST_ORDER_DAY
    while day <= LAST_ORDER_DAY:
        for _ in range(rng.randint(3, 8)):
            shop_id = rng.choices(range(1, len(SHOPS) + 1), weights=shop_weights)[0]
            if day < date.fromisoformat(SHOPS[shop_id - 1][3]):
                continue
            # Most card holders shop at their home bakery; some drop in elsewhere.
            members = [c for c in customers if c[2] <= day]
            regulars = [c for c in members if c[1] == shop_id]
            customer_id = None
            if regulars and rng.random() < 0.6:
                customer_id = rng.choice(regulars if rng.random() < 0.85 else members)[0]
            on_shift = [e for e, start, end in tills[shop_id] if start <= day and (end is None or end > day)]
            served_by = rng.choice(on_shift) if on_shift and rng.random() > 0.05 else None
            order_id += 1
            minute = rng.randint(7 * 60, 17 * 60 + 45)
            conn.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    shop_id,
                    customer_id,
                    day.isoformat(),
                    f"{minute // 60:02d}:{minute % 60:02d}",
                    rng.choices(["card", "cash", "app"], weights=[62, 18, 20])[0],
                    served_by,
                ),
            )
            for product_id, quantity in _basket(rng, SHOPS[shop_id - 1][4], day):
                conn.execute(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?)",
                    (order_id, product_id, quantity, _price_on(PRODUCTS[product_id - 1][2], day)),
                )
        day += timedelta(days=1)
