"""The procgen domains. Each split owns its domains: no domain, table noun or key is in both.

A domain is ``group <- item <- event`` (see :mod:`.model`). To add one, append a ``_dom(...)`` to
the split's list below; ``tests/test_procgen.py`` checks every domain builds, that the splits
share no table name and that every identifier avoids SQL's reserved words.
"""

from __future__ import annotations

from sqlenv_core.datasets.procgen.model import Attr, Domain, Entity, NameGen
from sqlenv_core.datasets.procgen.words import CITIES

__all__ = ["DOMAINS", "EVAL_DOMAINS", "TRAIN_DOMAINS", "domains_of"]


def _cat(name: str, values: str, label: str = "") -> Attr:
    return Attr(name, "cat", tuple(v.strip() for v in values.split("|")), label=label)


def _int(name: str, lo: int, hi: int, label: str = "") -> Attr:
    return Attr(name, "int", lo=lo, hi=hi, label=label)


def _real(name: str, lo: float, hi: float, label: str = "") -> Attr:
    return Attr(name, "real", lo=lo, hi=hi, label=label)


def _date(name: str, first_year: int, last_year: int, label: str = "") -> Attr:
    return Attr(name, "date", lo=first_year, hi=last_year, label=label)


def _person() -> NameGen:
    return NameGen("person")


def _list(words: str) -> NameGen:
    return NameGen("list", tuple(w.strip() for w in words.split("|")))


def _combo(words: str) -> NameGen:
    return NameGen("combo", tuple(w.strip() for w in words.split("|")))


def _ent(singular: str, plural: str, names: NameGen | None, *attrs: Attr) -> Entity:
    return Entity(singular, plural, names, tuple(attrs))


def _city(name: str = "city") -> Attr:
    return Attr(name, "cat", CITIES, label=name.replace("_", " "))


TRAIN_DOMAINS: tuple[Domain, ...] = (
    Domain(
        "clinic",
        "train",
        _ent(
            "department",
            "departments",
            _list("Cardiology|Dermatology|Neurology|Paediatrics|Oncology|Radiology|Orthopaedics|Urology|Psychiatry"),
            _int("floor", 1, 6),
        ),
        _ent(
            "doctor",
            "doctors",
            _person(),
            _cat("specialty_level", "junior|senior|consultant", "level"),
            _int("years_of_experience", 1, 35, "years of experience"),
            _real("salary", 52000, 180000),
        ),
        _ent(
            "appointment",
            "appointments",
            None,
            _date("appointment_date", 2019, 2024),
            _real("fee", 40, 250),
            _cat("status", "completed|cancelled|no-show"),
            _int("duration_minutes", 10, 60, "duration in minutes"),
        ),
    ),
    Domain(
        "shop",
        "train",
        _ent(
            "category",
            "categories",
            _list("Kitchen|Garden|Toys|Books|Music|Sports|Beauty|Tools|Office|Pets"),
            _cat("aisle_zone", "north|south|east|west", "zone"),
        ),
        _ent(
            "product",
            "products",
            _combo("Kettle|Lamp|Chair|Blender|Backpack|Notebook|Candle|Mug|Speaker|Puzzle|Racket|Drill"),
            _cat("brand", "Acme|Nordica|Vexo|Lumina|Pico"),
            _real("price", 2, 400),
            _int("stock", 0, 250),
        ),
        _ent(
            "order",
            "orders",
            None,
            _date("order_date", 2020, 2024),
            _int("quantity", 1, 12),
            _cat("channel", "web|store|phone"),
            _real("discount", 0, 30),
        ),
    ),
    Domain(
        "library",
        "train",
        _ent(
            "genre",
            "genres",
            _list("Fantasy|Mystery|History|Poetry|Science|Romance|Travel|Biography|Horror|Cooking"),
            _int("shelf_number", 1, 40, "shelf number"),
        ),
        _ent(
            "book",
            "books",
            _combo("River|Garden|Kingdom|Secret|Voyage|Winter|Mirror|Letter|Harbour|Forest|Lantern"),
            _cat("language", "English|French|Spanish|German|Italian"),
            _int("pages", 80, 900),
            _int("publication_year", 1950, 2023, "publication year"),
        ),
        _ent(
            "loan",
            "loans",
            None,
            _date("loan_date", 2018, 2024),
            _int("days_kept", 1, 60, "days kept"),
            _real("late_fee", 0, 25, "late fee"),
            _cat("branch", "Central|Harbour|Hillside|University"),
        ),
    ),
    Domain(
        "league",
        "train",
        _ent(
            "club",
            "clubs",
            _list("Rovers|United|Athletic|Wanderers|Rangers|Albion|Harriers|Olympic|Dynamo"),
            _city("home_city"),
            _int("founded_year", 1870, 2005, "founding year"),
        ),
        _ent(
            "player",
            "players",
            _person(),
            _cat("position", "goalkeeper|defender|midfielder|forward"),
            _int("shirt_number", 1, 99, "shirt number"),
            _real("wage", 500, 90000),
        ),
        _ent(
            "goal",
            "goals",
            None,
            _date("match_date", 2016, 2024, "match date"),
            _int("minute", 1, 90),
            _cat("body_part", "left foot|right foot|head", "body part"),
            _real("shot_speed", 40, 130, "shot speed"),
        ),
    ),
    Domain(
        "lab",
        "train",
        _ent(
            "research group",
            "research groups",
            _list("Genomics|Optics|Catalysis|Robotics|Ecology|Materials|Neuroscience|Virology|Climate"),
            _real("annual_budget", 100000, 3000000, "annual budget"),
        ),
        _ent(
            "researcher",
            "researchers",
            _person(),
            _cat("role", "postdoc|student|technician|professor"),
            _int("papers", 0, 120),
            _real("grant_amount", 0, 900000, "grant amount"),
        ),
        _ent(
            "experiment",
            "experiments",
            None,
            _date("run_date", 2017, 2024, "run date"),
            _real("cost", 50, 20000),
            _cat("outcome", "success|failure|inconclusive"),
            _int("sample_count", 1, 500, "sample count"),
        ),
    ),
    Domain(
        "zoo",
        "train",
        _ent(
            "enclosure",
            "enclosures",
            _list("Savanna|Rainforest|Arctic|Desert|Wetland|Mountain|Reef|Grassland|Jungle"),
            _int("area_m2", 200, 9000, "area in square metres"),
        ),
        _ent(
            "animal",
            "animals",
            _combo("Zebra|Lion|Otter|Panda|Lemur|Falcon|Tortoise|Giraffe|Penguin|Koala|Tapir"),
            _cat("diet", "herbivore|carnivore|omnivore"),
            _int("age", 1, 45),
            _real("weight_kg", 2, 2500, "weight in kg"),
        ),
        _ent(
            "feeding",
            "feedings",
            None,
            _date("feeding_date", 2021, 2024, "feeding date"),
            _real("food_kg", 0.5, 60, "food in kg"),
            _cat("keeper_shift", "morning|afternoon|evening", "shift"),
            _int("duration_minutes", 5, 45, "duration in minutes"),
        ),
    ),
)

EVAL_DOMAINS: tuple[Domain, ...] = (
    Domain(
        "cinema",
        "eval",
        _ent(
            "cinema",
            "cinemas",
            _list("Odeon|Regal|Rialto|Majestic|Paramount|Empire|Plaza|Lux|Orpheum"),
            _city("city"),
            _int("screens", 1, 14),
        ),
        _ent(
            "film",
            "films",
            _combo("Dawn|Horizon|Echo|Storm|Comet|Shadow|Island|Promise|Signal|Frontier"),
            _cat("rating_class", "U|PG|12A|15|18", "rating class"),
            _int("runtime", 75, 190),
            _real("budget_musd", 0.5, 220, "budget in million dollars"),
        ),
        _ent(
            "screening",
            "screenings",
            None,
            _date("screening_date", 2019, 2024, "screening date"),
            _int("tickets_sold", 0, 400, "tickets sold"),
            _real("ticket_price", 4, 22, "ticket price"),
            _cat("format", "2D|3D|IMAX"),
        ),
    ),
    Domain(
        "school",
        "eval",
        _ent(
            "school",
            "schools",
            _list("Oakwood|Riverside|Hillcrest|Beacon|Meadowbank|Kingsway|Elmhurst|Fairview|Highfield"),
            _int("founded", 1850, 2010, "founding year"),
        ),
        _ent(
            "teacher",
            "teachers",
            _person(),
            _cat("subject", "maths|physics|history|art|biology|music"),
            _int("years_teaching", 1, 40, "years teaching"),
            _real("hourly_rate", 18, 75, "hourly rate"),
        ),
        _ent(
            "lesson",
            "lessons",
            None,
            _date("lesson_date", 2020, 2024, "lesson date"),
            _int("pupils", 5, 32),
            _cat("room_type", "lab|classroom|hall|studio", "room type"),
            _real("hours", 0.5, 3, "hours"),
        ),
    ),
    Domain(
        "fleet",
        "eval",
        _ent(
            "depot",
            "depots",
            _list("Northside|Southport|Eastgate|Westbury|Central|Harbourview|Airside|Parkway|Ridgeway"),
            _int("bays", 4, 60),
        ),
        _ent(
            "vehicle",
            "vehicles",
            _combo("Van|Truck|Shuttle|Coach|Pickup|Tanker|Minibus|Lorry"),
            _cat("fuel", "diesel|electric|petrol|hybrid"),
            _int("mileage", 1000, 400000),
            _real("purchase_price", 9000, 180000, "purchase price"),
        ),
        _ent(
            "trip",
            "trips",
            None,
            _date("trip_date", 2019, 2024, "trip date"),
            _real("distance_km", 3, 900, "distance in km"),
            _cat("purpose", "delivery|collection|service|transfer"),
            _int("stops", 1, 25),
        ),
    ),
    Domain(
        "orchestra",
        "eval",
        _ent(
            "section",
            "sections",
            _list("Strings|Brass|Woodwind|Percussion|Keyboards|Harps|Choir|Continuo"),
            _int("chairs", 2, 30),
        ),
        _ent(
            "musician",
            "musicians",
            _person(),
            _cat("instrument_family", "bowed|plucked|blown|struck", "instrument family"),
            _int("seasons_played", 1, 30, "seasons played"),
            _real("fee_per_concert", 150, 4000, "fee per concert"),
        ),
        _ent(
            "rehearsal",
            "rehearsals",
            None,
            _date("rehearsal_date", 2018, 2024, "rehearsal date"),
            _int("length_minutes", 30, 240, "length in minutes"),
            _cat("venue", "main hall|studio|chapel|annex"),
            _real("travel_cost", 0, 300, "travel cost"),
        ),
    ),
    Domain(
        "farm",
        "eval",
        _ent(
            "farm",
            "farms",
            _list("Brookside|Hollow Oak|Greenacre|Windmill|Sunnyfield|Foxglove|Millstone|Thornbury|Larkrise"),
            _real("hectares", 20, 1500),
        ),
        _ent(
            "field",
            "fields",
            _combo("Meadow|Paddock|Acre|Croft|Furlong|Pasture|Strip|Orchard"),
            _cat("crop", "wheat|barley|maize|potatoes|rapeseed|oats"),
            _int("soil_score", 1, 10, "soil score"),
            _real("size_ha", 1, 80, "size in hectares"),
        ),
        _ent(
            "harvest",
            "harvests",
            None,
            _date("harvest_date", 2015, 2024, "harvest date"),
            _real("yield_tonnes", 1, 600, "yield in tonnes"),
            _cat("weather", "dry|wet|mixed"),
            _int("workers", 1, 30),
        ),
    ),
    Domain(
        "museum",
        "eval",
        _ent(
            "gallery",
            "galleries",
            _list("Renaissance|Modern|Egyptian|Textiles|Ceramics|Maritime|Photography|Sculpture|Asian Art"),
            _int("floor_level", 0, 4, "floor level"),
        ),
        _ent(
            "artwork",
            "artworks",
            _combo("Portrait|Vase|Tapestry|Landscape|Figure|Mask|Bowl|Panel|Relief"),
            _cat("medium", "oil|bronze|marble|silk|clay|ink"),
            _int("year_made", 1300, 2020, "year made"),
            _real("insured_value", 1000, 5000000, "insured value"),
        ),
        _ent(
            "visit count",
            "visit counts",
            None,
            _date("count_date", 2019, 2024, "count date"),
            _int("visitors", 0, 3000),
            _cat("time_slot", "morning|afternoon|evening", "time slot"),
            _real("audio_guide_share", 0, 1, "audio guide share"),
        ),
    ),
)

DOMAINS: tuple[Domain, ...] = TRAIN_DOMAINS + EVAL_DOMAINS


def domains_of(split: str) -> tuple[Domain, ...]:
    """The domains of ``train`` or ``eval``."""
    return TRAIN_DOMAINS if split == "train" else EVAL_DOMAINS
