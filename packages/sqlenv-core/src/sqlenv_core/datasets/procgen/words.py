"""Word lists every domain shares: people's names and the adjectives of made-up names."""

from __future__ import annotations

__all__ = ["ADJECTIVES", "CITIES", "FIRST_NAMES", "LAST_NAMES"]

FIRST_NAMES = tuple(
    """Ada Alan Alice Amir Ana Anton Beatriz Ben Bruno Carla Chen Chiara Dana David Diego Dmitri Elena
    Emil Emma Farid Fatima Felix Gwen Hana Hugo Ian Ines Ivan Jonas Julia Kemi Kofi Laila Lars Lena
    Luca Maya Marek Mira Nadia Nikhil Nora Olga Omar Oscar Paula Pavel Priya Rosa Sami Sara Tariq Tom
    Uma Vera Wei Yara Yusuf Zoe""".split()
)

LAST_NAMES = tuple(
    """Abbott Adler Baker Bergstrom Costa Chowdhury Diaz Duarte Eriksen Evans Fontaine Fischer Gallagher
    Garcia Haddad Hughes Ibarra Ito Jansen Jones Kaur Kim Laurent Lopez Mbeki Moreau Nyberg Novak Ortega
    Okafor Pellegrini Park Quinlan Reyes Rossi Schmidt Silva Tanaka Torres Urquhart Varga Walsh Weber
    Yilmaz Young Zielinski Zhang""".split()
)

ADJECTIVES = tuple(
    """Amber Ancient Blue Bold Brave Bright Calm Clever Copper Crimson Crystal Golden Grand Green Happy
    Hidden Iron Jolly Little Lucky Lunar Misty Noble Northern Quiet Rapid Royal Rustic Silent Silver
    Solar Swift Tiny Urban Velvet Wild Windy Wise Young""".split()
)

CITIES = (
    "Ashford",
    "Brookvale",
    "Cedar Falls",
    "Dunmore",
    "Eastmoor",
    "Fairhaven",
    "Glenwood",
    "Harlow",
    "Kingsbridge",
    "Lakeside",
    "Millbrook",
    "Northgate",
    "Riverton",
    "Stonebridge",
    "Westfield",
)
