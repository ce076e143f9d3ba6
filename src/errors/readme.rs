//! README's error tables, generated from the catalog: the text between `<!-- errors:begin -->`
//! and `<!-- errors:end -->`. A test compares README with [`markdown`]; `UPDATE_README=1`
//! makes it rewrite README instead ([`splice`]).

use super::{catalog, Code, ErrorEntry, Extra, Group};

pub const BEGIN: &str = "<!-- errors:begin -->";
pub const END: &str = "<!-- errors:end -->";

fn heading(group: Group) -> &'static str {
    match group {
        Group::Reservation => {
            "Reservation refusals (`service-unavailable`, cancel, with `<reservation-error error-code='CODE'/>`):"
        }
        Group::Request => "Other answers to the conference request, and to any IQ request the focus cannot read:",
        Group::SignIn => "Answers to `login-url` and `logout`:",
        Group::Jingle => "Answers to Jingle (from a participant to `room@conference…/focus`):",
        Group::Mute => "Answers to mute requests:",
    }
}

/// The generated tables, without the markers.
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- generated from src/errors/ by errors::tests::readme_error_tables_match_the_catalog; \
         UPDATE_README=1 rewrites it -->\n",
    );
    for group in Group::ALL {
        let entries: Vec<&ErrorEntry> = catalog().filter(|e| e.group == group).collect();
        if entries.is_empty() {
            continue;
        }
        out.push('\n');
        out.push_str(heading(group));
        out.push_str("\n\n");
        // The group's usual reading (its most frequent one) is said once, below the table; a
        // column shows only the others.
        let client = |e: &ErrorEntry| (e.client_2020, e.client_now);
        let usual = entries
            .iter()
            .map(|e| client(e))
            .max_by_key(|c| entries.iter().filter(|e| client(e) == *c).count())
            .expect("not empty");
        let same_client = entries.iter().all(|e| client(e) == usual);
        let with_code = group == Group::Reservation;
        let mut columns = vec!["key", "condition (type)"];
        if with_code {
            columns.push("code");
        }
        columns.extend(["text", "when"]);
        if !same_client {
            columns.extend(["2020–21 client", "current client"]);
        }
        out.push_str(&row(&columns.iter().map(|c| c.to_string()).collect::<Vec<_>>()));
        out.push_str(&row(&columns.iter().map(|_| "---".to_owned()).collect::<Vec<_>>()));
        for entry in &entries {
            let mut cells = vec![format!("`{}`", entry.key), condition(entry)];
            if with_code {
                cells.push(match entry.code {
                    Code::None => String::new(),
                    Code::ApiStatus => "the API's status".to_owned(),
                    Code::Fixed(code) => code.to_string(),
                });
            }
            cells.extend([text(entry), entry.when.to_owned()]);
            if !same_client {
                let (old, now) = if client(entry) == usual { ("", "") } else { client(entry) };
                cells.extend([old.to_owned(), now.to_owned()]);
            }
            out.push_str(&row(&cells));
        }
        let otherwise = if same_client { "" } else { " (where the client columns are empty)" };
        if usual.0 == usual.1 {
            out.push_str(&format!("\nWhat lib-jitsi-meet (2020–21 and current) does{otherwise}: {}.\n", usual.1));
        } else {
            out.push_str(&format!(
                "\nWhat lib-jitsi-meet does{otherwise}: 2020–21: {}; current: {}.\n",
                usual.0, usual.1
            ));
        }
    }
    out
}

/// One Markdown table row, `|` in cells escaped (also for the HTTP API's tables).
pub(crate) fn row(cells: &[String]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    format!("| {} |\n", cells.join(" | "))
}

fn condition(entry: &ErrorEntry) -> String {
    let extra = match entry.extra {
        Extra::None => "",
        Extra::SessionInvalid => " + `<session-invalid/>`",
        Extra::Reservation => "",
        Extra::GracefulShutdown => " + `<graceful-shutdown/>`",
    };
    format!("`{}` ({}){extra}", entry.condition.name(), entry.type_.name())
}

fn text(entry: &ErrorEntry) -> String {
    if !entry.family {
        return format!("`{}`", entry.text);
    }
    let examples: Vec<String> = entry.examples.iter().map(|e| format!("`{e}`")).collect();
    match examples.is_empty() {
        true => entry.text.to_owned(),
        false => format!("{}, e.g. {}", entry.text, examples.join(", ")),
    }
}

/// `readme` with the text between the markers replaced by `generated`; None without markers.
pub fn splice(readme: &str, generated: &str) -> Option<String> {
    splice_between(readme, BEGIN, END, generated)
}

/// `readme` with the text between `begin` and `end` replaced by `generated`; None without them.
pub fn splice_between(readme: &str, begin: &str, end: &str, generated: &str) -> Option<String> {
    let start = readme.find(begin)? + begin.len();
    let stop = start + readme[start..].find(end)?;
    Some(format!("{}\n{generated}\n{}", &readme[..start], &readme[stop..]))
}

/// The test behind every generated README section: README.md must hold `generated` between
/// `begin` and `end`; with `UPDATE_README` set it is rewritten instead.
#[cfg(test)]
pub(crate) fn check_readme_section(begin: &str, end: &str, generated: &str, what: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let expected = splice_between(&readme, begin, end, generated)
        .unwrap_or_else(|| panic!("README.md has no {begin} … {end} markers"));
    if std::env::var_os("UPDATE_README").is_some() && expected != readme {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert!(
        expected == readme,
        "README.md's {what} are stale: run `UPDATE_README=1 cargo test --lib readme_ -- --test-threads=1`"
    );
}
