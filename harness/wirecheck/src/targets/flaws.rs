//! The kill matrix of a target's own flaws (`flaws:` in its file): the catalog run once
//! with each flaw switched on (`WIRECHECK_FLAW=name`), next to the correct target.
