-- An independent online bookshop: catalogue, customers, orders and reviews.

CREATE TABLE genres (
    genre_id     INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE
);

CREATE TABLE publishers (
    publisher_id INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    city         TEXT NOT NULL,
    country      TEXT NOT NULL,
    founded_year INTEGER            -- unknown for some small presses
);

CREATE TABLE authors (
    author_id    INTEGER PRIMARY KEY,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    birth_year   INTEGER,
    nationality  TEXT
);

CREATE TABLE books (
    book_id          INTEGER PRIMARY KEY,
    isbn             TEXT NOT NULL UNIQUE,
    title            TEXT NOT NULL,  -- the same title can exist in several formats
    genre_id         INTEGER NOT NULL REFERENCES genres (genre_id),
    publisher_id     INTEGER REFERENCES publishers (publisher_id),  -- NULL: self-published
    publication_date TEXT NOT NULL,  -- YYYY-MM-DD
    list_price       REAL NOT NULL,
    page_count       INTEGER,
    language         TEXT NOT NULL,
    format           TEXT NOT NULL   -- Hardcover, Paperback or Ebook
);

CREATE TABLE book_authors (
    book_id          INTEGER NOT NULL REFERENCES books (book_id),
    author_id        INTEGER NOT NULL REFERENCES authors (author_id),
    author_position  INTEGER NOT NULL,  -- 1 for the lead author
    PRIMARY KEY (book_id, author_id)
);

CREATE TABLE customers (
    customer_id  INTEGER PRIMARY KEY,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    email        TEXT,
    city         TEXT NOT NULL,
    signup_date  TEXT NOT NULL      -- DD/MM/YYYY, as exported by the old shop system
);

CREATE TABLE orders (
    order_id     INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (customer_id),
    order_date   TEXT NOT NULL,     -- YYYY-MM-DD
    status       TEXT NOT NULL,     -- delivered, shipped, pending, cancelled, returned (case varies)
    shipping_fee REAL NOT NULL
);

CREATE TABLE order_items (
    order_id     INTEGER NOT NULL REFERENCES orders (order_id),
    book_id      INTEGER NOT NULL REFERENCES books (book_id),
    quantity     INTEGER NOT NULL,
    unit_price   REAL NOT NULL,     -- price actually charged, after any discount
    PRIMARY KEY (order_id, book_id)
);

CREATE TABLE reviews (
    review_id    INTEGER PRIMARY KEY,
    book_id      INTEGER NOT NULL REFERENCES books (book_id),
    customer_id  INTEGER NOT NULL REFERENCES customers (customer_id),
    rating       INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    review_date  TEXT NOT NULL,     -- YYYY-MM-DD
    review_text  TEXT
);
