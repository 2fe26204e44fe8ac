"""Dates and folder names in the user's language. Two languages ship (en, fr); a project
may add templates in another language, whose dates then fall back to English words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Words:
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    special: dict[str, str]  # special-use attribute (lowercase) -> folder name people know
    moment: str  # how a date and a time are joined: "{date}, {time}"
    day: str  # "{weekday} {day} {month} {year}"


ENGLISH = Words(
    weekdays=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    months=("January", "February", "March", "April", "May", "June", "July", "August",
            "September", "October", "November", "December"),
    special={"\\trash": "Trash", "\\junk": "Junk (spam)", "\\sent": "Sent",
             "\\drafts": "Drafts", "\\archive": "Archive", "\\all": "All Mail",
             "\\flagged": "Flagged"},
    moment="{date} at {time}",
    day="{weekday} {day} {month} {year}",
)
FRENCH = Words(
    weekdays=("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    months=("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
            "septembre", "octobre", "novembre", "décembre"),
    special={"\\trash": "Corbeille", "\\junk": "Courrier indésirable",
             "\\sent": "Éléments envoyés", "\\drafts": "Brouillons", "\\archive": "Archives",
             "\\all": "Tous les messages", "\\flagged": "Messages suivis"},
    moment="{date} à {time}",
    day="{weekday} {day} {month} {year}",
)
LANGUAGES = {"en": ENGLISH, "fr": FRENCH}


def words(language: str) -> Words:
    return LANGUAGES.get(language.split("-")[0], ENGLISH)


def format_day(moment: dt.date, language: str) -> str:
    w = words(language)
    return w.day.format(weekday=w.weekdays[moment.weekday()], day=moment.day,
                        month=w.months[moment.month - 1], year=moment.year)


def format_moment(moment: dt.datetime, language: str) -> str:
    """'Saturday 5 December 2026 at 18:00' / 'samedi 5 décembre 2026 à 18:00'."""
    return words(language).moment.format(date=format_day(moment, language),
                                         time=f"{moment:%H:%M}")


def special_folder(use: str, language: str) -> str:
    return words(language).special.get(use.lower(), use.lstrip("\\"))
