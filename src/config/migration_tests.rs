//! README's "Migrating from Jicofo" table names only keys our configuration has.

use super::Config;

/// `section.key` of every key: those with a default, and those the annotated file documents
/// (including commented-out ones, such as `xmpp.secret`).
fn our_keys() -> Vec<String> {
    let defaults = toml::Value::try_from(Config::default()).expect("the defaults serialize");
    let mut keys = Vec::new();
    for (section, table) in defaults.as_table().unwrap() {
        for key in table.as_table().map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            keys.push(format!("{section}.{key}"));
        }
    }
    let annotated = include_str!("../../config/jitsi-focus.toml");
    let mut section = String::new();
    for line in annotated.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, _)) = line.split_once(" = ") {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()) {
                keys.push(format!("{section}.{key}"));
            }
        }
    }
    keys
}

#[test]
fn the_migration_table_names_our_keys() {
    let readme = include_str!("../../README.md");
    let start = readme.find("## Migrating from Jicofo").expect("the section");
    let table = readme[start..].lines().skip_while(|l| !l.starts_with("| jicofo.conf")).skip(2);
    let keys = our_keys();
    let mut rows = 0;
    for line in table.take_while(|l| l.starts_with('|')) {
        let ours = line.split('|').nth(3).map(str::trim).unwrap_or_else(|| panic!("a row of four columns: {line}"));
        rows += 1;
        if ours == "not needed" || ours == "not supported yet" {
            continue;
        }
        for name in ours.split(", ") {
            let name = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')).unwrap_or_else(|| panic!("{ours}"));
            let known = match name.strip_suffix(".*") {
                Some(section) => keys.iter().any(|k| k.starts_with(&format!("{section}."))),
                None => keys.iter().any(|k| k == name),
            };
            assert!(known, "README's migration table names {name}, which our configuration does not have");
        }
    }
    assert!(rows > 30, "{rows} rows read");
}
