"""`?fields=` and `?include=` parsing for any resource.

A resource declares what a caller may see (`FieldPolicy`): its public top-level fields, the
relations it can embed with their public sub-fields, and the defaults. `selection_parse`
turns the query string into a validated `Selection`, or raises a 400 problem+json that lists
what is allowed. Hidden fields are simply never in the caller's policy, so they can't be
selected, included or probed (the error lists only the allowed names).

Rules:
- `fields=id,title` → exactly those top-level keys (plus nothing else).
- `include=author,tags` → those relations are embedded inline; without it they appear as ids.
- `fields=author.name` selects a sub-field of an included relation and implies the include.
- Depth is one level (`author.name`, never `author.posts.title`); includes are capped by count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.errors import DomainError

# An include list longer than the relations any resource offers is a mistake or a probe.
MAX_INCLUDES = 5
# Relations are embedded one level deep: `author.name` yes, `author.x.y` no.
MAX_DEPTH = 1
# Bounds the work of parsing a hostile query string.
MAX_FIELDS = 50


class InvalidFields(DomainError):
    status_code = 400
    code = "invalid_fields"
    title = "Invalid field selection"


class InvalidInclude(DomainError):
    status_code = 400
    code = "invalid_include"
    title = "Invalid include"


@dataclass(frozen=True)
class RelationPolicy:
    """One embeddable relation: its public sub-fields and the id field that stands for it."""

    fields: tuple[str, ...]
    id_field: str


@dataclass(frozen=True)
class FieldPolicy:
    fields: tuple[str, ...]
    relations: Mapping[str, RelationPolicy] = field(default_factory=dict)
    default_fields: tuple[str, ...] | None = None  # None: all of `fields`


@dataclass(frozen=True)
class Selection:
    """What to return: top-level fields in order, and per included relation its sub-fields."""

    fields: tuple[str, ...]
    includes: Mapping[str, tuple[str, ...]]

    def cache_token(self) -> str:
        """A stable string for cache keys (same selection → same token)."""
        included = ";".join(
            f"{name}:{','.join(sub)}" for name, sub in sorted(self.includes.items())
        )
        return f"f={','.join(self.fields)}|i={included}"


def _split(raw: str | None) -> list[str]:
    if raw is None:
        return []
    parts = [part.strip() for part in raw.split(",")]
    return [part for part in parts if part]


def selection_parse(
    *, fields_param: str | None, include_param: str | None, policy: FieldPolicy
) -> Selection:
    """Validate `?fields=` and `?include=` against the caller's policy.

    Raises InvalidFields / InvalidInclude (400) naming the allowed values.
    """
    requested_includes = _split(include_param)
    if len(requested_includes) > MAX_INCLUDES:
        raise InvalidInclude(
            f"At most {MAX_INCLUDES} relations can be included.",
            errors={"include": [f"At most {MAX_INCLUDES} relations."]},
        )
    allowed_relations = sorted(policy.relations)
    includes: dict[str, tuple[str, ...]] = {}
    for name in requested_includes:
        if name.count(".") >= MAX_DEPTH:
            raise InvalidInclude(
                f"Includes are {MAX_DEPTH} level deep; '{name}' is too deep.",
                errors={"include": [f"Allowed: {', '.join(allowed_relations)}."]},
            )
        if name not in policy.relations:
            raise InvalidInclude(
                f"Unknown include '{name}'. Allowed: {', '.join(allowed_relations) or 'none'}.",
                errors={"include": [f"Allowed: {', '.join(allowed_relations)}."]},
            )
        includes[name] = policy.relations[name].fields

    requested_fields = _split(fields_param)
    if fields_param is not None and not requested_fields:
        raise InvalidFields(
            "fields must name at least one field.",
            errors={"fields": [f"Allowed: {', '.join(_allowed_names(policy))}."]},
        )
    if len(requested_fields) > MAX_FIELDS:
        raise InvalidFields(
            f"At most {MAX_FIELDS} fields.", errors={"fields": [f"At most {MAX_FIELDS}."]}
        )
    if not requested_fields:
        top = policy.default_fields or policy.fields
        return Selection(fields=_with_includes(tuple(top), includes, policy), includes=includes)

    unknown = [name for name in requested_fields if not _is_allowed(name, policy)]
    if unknown:
        allowed = ", ".join(_allowed_names(policy))
        raise InvalidFields(
            f"Unknown or non-public fields: {', '.join(unknown)}. Allowed: {allowed}.",
            errors={"fields": [f"Allowed: {allowed}."]},
        )
    top_level: list[str] = []
    sub_fields: dict[str, list[str]] = {}
    for name in requested_fields:
        if "." in name:
            relation, sub = name.split(".", 1)
            sub_fields.setdefault(relation, []).append(sub)
            if relation not in top_level:
                top_level.append(relation)
        elif name in policy.relations:
            includes.setdefault(name, policy.relations[name].fields)
            if name not in top_level:
                top_level.append(name)
        elif name not in top_level:
            top_level.append(name)
    for relation, subs in sub_fields.items():
        # `author` beside `author.name` asks for the whole object; alone, just the sub-fields.
        includes[relation] = (
            policy.relations[relation].fields
            if relation in requested_fields
            else tuple(dict.fromkeys(subs))
        )
    return Selection(fields=_with_includes(tuple(top_level), includes, policy), includes=includes)


def _with_includes(
    top: tuple[str, ...], includes: Mapping[str, tuple[str, ...]], policy: FieldPolicy
) -> tuple[str, ...]:
    """Included relations replace their id field (`author` instead of `author_id`)."""
    result = list(top)
    for relation in includes:
        id_field = policy.relations[relation].id_field
        if id_field in result:
            result[result.index(id_field)] = relation
        elif relation not in result:
            result.append(relation)
    return tuple(dict.fromkeys(result))


def _is_allowed(name: str, policy: FieldPolicy) -> bool:
    if "." not in name:
        return name in policy.fields or name in policy.relations
    relation, sub = name.split(".", 1)
    if "." in sub:
        return False
    rel = policy.relations.get(relation)
    return rel is not None and sub in rel.fields


def _allowed_names(policy: FieldPolicy) -> list[str]:
    names = list(policy.fields) + list(policy.relations)
    for relation, rel in policy.relations.items():
        names.extend(f"{relation}.{sub}" for sub in rel.fields)
    return names


def unknown_parameters(params: Sequence[str], *, allowed: Sequence[str]) -> list[str]:
    """Query parameter names the endpoint does not know (for a 400 `unknown_parameter`)."""
    allowed_set = set(allowed)
    return sorted({name for name in params if name not in allowed_set})


def reject_unknown_parameters(params: Sequence[str], *, allowed: Sequence[str]) -> None:
    """Raise a 400 problem+json (`unknown_parameter`) for any query parameter not in `allowed`."""
    unknown = unknown_parameters(params, allowed=allowed)
    if unknown:
        raise DomainError(
            f"Unknown query parameter(s): {', '.join(unknown)}. "
            f"Allowed: {', '.join(sorted(allowed))}.",
            code="unknown_parameter",
            title="Unknown query parameter",
            errors={name: ["Unknown parameter."] for name in unknown},
        )


def _list_pattern(items: Sequence[str], *, most: int) -> str:
    item = "(?:" + "|".join(re.escape(name) for name in sorted(items, key=len, reverse=True)) + ")"
    return f"^{item}(?:,{item}){{0,{most - 1}}}$"


def selection_patterns(policy: FieldPolicy) -> dict[str, str]:
    """`{"fields": regex, "include": regex}`: the values `policy` accepts, for the schema."""
    nested = [f"{name}.{sub}" for name, rel in policy.relations.items() for sub in rel.fields]
    return {
        "fields": _list_pattern([*policy.fields, *policy.relations, *nested], most=MAX_FIELDS),
        "include": _list_pattern(list(policy.relations), most=MAX_INCLUDES),
    }
