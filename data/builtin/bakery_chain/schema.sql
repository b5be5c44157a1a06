-- Crumb & Co., a chain of six bakeries; orders from 2023-01-01 to 2024-06-30.

CREATE TABLE shops (
    shop_id        INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    city           TEXT NOT NULL,
    street_address TEXT NOT NULL,
    opened_on      TEXT NOT NULL,          -- ISO date
    has_cafe       INTEGER NOT NULL        -- 1 when the shop has seating
);

CREATE TABLE employees (
    employee_id    INTEGER PRIMARY KEY,
    shop_id        INTEGER NOT NULL REFERENCES shops(shop_id),
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    role           TEXT NOT NULL,          -- 'Manager', 'Baker', 'Barista', 'Counter Assistant'
    hire_date      TEXT NOT NULL,          -- ISO date
    left_on        TEXT,                   -- NULL while still employed
    hourly_rate    REAL NOT NULL           -- in pounds
);

CREATE TABLE suppliers (
    supplier_id    INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    country        TEXT NOT NULL,
    phone          TEXT                    -- NULL when not on file
);

CREATE TABLE ingredients (
    ingredient_id  INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    unit           TEXT NOT NULL,          -- 'kg', 'l' or 'each'
    cost_per_unit  REAL NOT NULL,          -- in pounds
    allergen       TEXT,                   -- e.g. 'gluten', 'milk'; NULL when none
    supplier_id    INTEGER NOT NULL REFERENCES suppliers(supplier_id)
);

CREATE TABLE products (
    product_id     INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    category       TEXT NOT NULL,          -- 'Bread', 'Viennoiserie', 'Cake', 'Savoury', 'Drink'
    price          REAL NOT NULL,          -- current price in pounds
    is_vegan       INTEGER NOT NULL,
    launched       TEXT NOT NULL,          -- legacy menu-system format, e.g. 'Mar 2019'
    discontinued   INTEGER NOT NULL DEFAULT 0
);

-- How much of each ingredient goes into one unit of a product.
CREATE TABLE recipe_items (
    product_id     INTEGER NOT NULL REFERENCES products(product_id),
    ingredient_id  INTEGER NOT NULL REFERENCES ingredients(ingredient_id),
    quantity       REAL NOT NULL,          -- in the ingredient's unit
    PRIMARY KEY (product_id, ingredient_id)
);

CREATE TABLE customers (
    customer_id    INTEGER PRIMARY KEY,
    full_name      TEXT NOT NULL,
    email          TEXT,                   -- NULL when the customer gave none
    loyalty_tier   TEXT NOT NULL,          -- 'Bronze', 'Silver', 'Gold'
    joined_on      TEXT NOT NULL,          -- ISO date
    home_shop_id   INTEGER REFERENCES shops(shop_id)
);

CREATE TABLE orders (
    order_id       INTEGER PRIMARY KEY,
    shop_id        INTEGER NOT NULL REFERENCES shops(shop_id),
    customer_id    INTEGER REFERENCES customers(customer_id),  -- NULL for walk-in customers without a card
    order_date     TEXT NOT NULL,          -- ISO date
    order_time     TEXT NOT NULL,          -- 'HH:MM'
    payment_method TEXT NOT NULL,          -- 'card', 'cash', 'app'
    served_by      INTEGER REFERENCES employees(employee_id)
);

CREATE TABLE order_items (
    order_id       INTEGER NOT NULL REFERENCES orders(order_id),
    product_id     INTEGER NOT NULL REFERENCES products(product_id),
    quantity       INTEGER NOT NULL,
    unit_price     REAL NOT NULL,          -- price charged at the time of the order
    PRIMARY KEY (order_id, product_id)
);
