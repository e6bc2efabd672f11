//! The `notify-keyspace-events` setting: what `watch` needs of it, and the line that gives it.
//!
//! `E` publishes key events on `__keyevent@<db>__:<event>`; `m` the misses of read commands (`keymiss`); `x`
//! expirations; `e` evictions; `g` generic commands (`del`, `expire`, `rename`); `$` string writes. `A` stands for
//! `g$lshzxetd` (every type's writes, expirations and evictions) but neither `m` nor `n`.

/// The classes `watch` cannot do without, each with what it brings.
const NEEDED: [(char, &str); 6] = [
    ('E', "key events"),
    ('m', "misses (keymiss)"),
    ('x', "expirations"),
    ('e', "evictions"),
    ('g', "deletes"),
    ('$', "string writes"),
];

/// Classes that `A` stands for.
const ALL_ALIAS: &str = "g$lshzxetd";

fn has(flags: &str, class: char) -> bool {
    flags.contains(class) || (flags.contains('A') && ALL_ALIAS.contains(class))
}

/// The classes missing from `flags`, with what each brings.
pub fn missing(flags: &str) -> Vec<(char, &'static str)> {
    NEEDED.iter().copied().filter(|&(class, _)| !has(flags, class)).collect()
}

/// `flags` with what `watch` needs added: `A` for the type classes (so every type's writes are seen), `E` and
/// `m`; what was there is kept.
pub fn with_needed(flags: &str) -> String {
    let mut out: String = flags.to_string();
    for class in ['A', 'E', 'm'] {
        if !out.contains(class) {
            out.push(class);
        }
    }
    out
}

/// How to set it, for the error that stops `watch` when it is missing.
pub fn how_to_set(flags: &str) -> String {
    let wanted = with_needed(flags);
    let lacking: Vec<String> = missing(flags).iter().map(|(class, what)| format!("`{class}` ({what})")).collect();
    format!(
        "the server does not publish the keyspace events cachescope watch reads: notify-keyspace-events is \"{flags}\", \
         which lacks {}. Set it to \"{wanted}\":\n  \
         redis-cli CONFIG SET notify-keyspace-events {wanted}   (until the server restarts)\n  \
         notify-keyspace-events {wanted}   (in redis.conf, to keep it)\n  \
         on a managed service (ElastiCache, MemoryDB, Azure Cache), the notify-keyspace-events parameter of its \
         parameter group, as CONFIG is disabled there.\n\
         Or run cachescope watch with --enable-notifications: it sets it and puts \"{flags}\" back when it stops.",
        lacking.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_missing_and_the_line_that_fixes_it() {
        let check = |flags: &str, lacking: &str, wanted: &str| {
            let found: String = missing(flags).iter().map(|(class, _)| *class).collect();
            assert_eq!(found, lacking, "{flags:?}");
            assert_eq!(with_needed(flags), wanted, "{flags:?}");
            assert!(missing(&with_needed(flags)).is_empty(), "{flags:?}");
        };
        check("", "Emxeg$", "AEm");
        // `A` includes neither `m` nor `E`.
        check("KA", "Em", "KAEm");
        check("AKE", "m", "AKEm");
        check("Egx$me", "", "Egx$meA");
        check("KEA m", "", "KEA m");
        assert!(how_to_set("").contains("CONFIG SET notify-keyspace-events AEm"));
        assert!(how_to_set("KA").contains("`E` (key events), `m` (misses (keymiss))"));
    }
}
