//! The catalog is well-formed, README's tables are generated from it, and the texts of families
//! and of producers outside the core's routing are the ones the catalog shows. (That the core
//! answers with each entry is checked in `core::tests::errors`.)

use std::collections::HashSet;

use super::*;
use crate::core::sources::SourceError;
use crate::xmpp::focus::FocusParseError;
use crate::xmpp::jingle::Jingle;
use crate::xmpp::stream::Rejection;

#[test]
fn keys_are_unique_and_name_their_statics() {
    let mut keys = HashSet::new();
    for entry in catalog() {
        assert!(keys.insert(entry.key), "{} twice", entry.key);
    }
    // Every static of the catalog's files is listed, and its name is its key.
    let mut statics = 0;
    for source in [include_str!("request.rs"), include_str!("media.rs")] {
        for line in source.lines().filter(|l| l.starts_with("pub static ")) {
            let name = line["pub static ".len()..].split(':').next().unwrap();
            let key = catalog()
                .map(|e| e.key)
                .find(|k| k.to_uppercase().replace(['.', '-'], "_") == name)
                .unwrap_or_else(|| panic!("{name} is not in the catalog, or its key is not its name"));
            assert!(entry(key).is_some());
            statics += 1;
        }
    }
    assert_eq!(statics, catalog().count());
}

#[test]
fn templates_fill_and_families_have_no_placeholders() {
    for entry in catalog() {
        if entry.family {
            assert!(!entry.text.contains('{'), "{}", entry.key);
            continue;
        }
        let names = entry.placeholders();
        let values: Vec<(&str, &str)> = names.iter().map(|n| (*n, "X")).collect();
        let text = entry.text_with(&values);
        assert!(!text.contains('{') && !text.contains('}'), "{}: {text}", entry.key);
        for example in entry.examples {
            assert!(matches(entry.text, example), "{}: {example:?} does not fit {:?}", entry.key, entry.text);
        }
    }
}

/// `text` fits `template` where each `{placeholder}` stands for any text.
fn matches(template: &str, text: &str) -> bool {
    let parts: Vec<&str> = template.split('{').map(|p| p.split_once('}').map_or(p, |(_, rest)| rest)).collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        match rest.find(part) {
            Some(0) => rest = &rest[part.len()..],
            Some(at) if i > 0 => rest = &rest[at + part.len()..],
            _ => return false,
        }
    }
    rest.is_empty() || parts.last().is_some_and(|p| p.is_empty())
}

#[test]
fn reservation_entries_share_one_shape_and_their_codes() {
    for entry in catalog() {
        let reservation = entry.group == Group::Reservation;
        assert_eq!(entry.extra == Extra::Reservation, reservation, "{}", entry.key);
        assert_eq!(entry.code != Code::None, reservation, "{}", entry.key);
        if reservation {
            assert_eq!((entry.condition, entry.type_), (Condition::ServiceUnavailable, Type::Cancel));
        }
    }
    let error = RESERVATION_EXPIRED.raw("Reservation expired").error_with_code(419);
    assert_eq!(crate::xmpp::focus::parse_reservation_error(&error), Some((419, "Reservation expired".to_owned())));
}

#[test]
fn family_examples_are_what_their_producers_make() {
    assert_eq!(REQUEST_MALFORMED.examples, [FocusParseError::PropertyWithoutName.to_string()]);
    let jingle = |inner: &str| {
        let xml = format!("<jingle xmlns='urn:xmpp:jingle:1' {inner}</jingle>");
        Jingle::parse(&xml.parse().unwrap()).unwrap_err().to_string()
    };
    let candidate = "<candidate component='1' foundation='1' generation='0' id='c' ip='10.0.0.1' network='0' port='10000' priority='1' protocol='udp' type='host'/>";
    let transport = |candidates: &str| {
        format!("action='transport-info' sid='s'><content creator='initiator' name='audio'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'>{candidates}</transport></content>")
    };
    let produced = [
        jingle("sid='s'>"),
        jingle(&transport(&candidate.replace("port='10000'", "port='x'"))),
        jingle(&transport(&candidate.repeat(33))),
    ];
    assert_eq!(JINGLE_MALFORMED.examples, produced);
    let produced = [
        SourceError::ssrc_already_used(1111).text().to_owned(),
        SourceError::ssrc_limit(20).text().to_owned(),
        SourceError::invalid_semantics("X").text().to_owned(),
    ];
    assert_eq!(JINGLE_INVALID_SOURCES.examples, produced);
    assert_eq!(JINGLE_SENDER_LIMIT.examples, [SourceError::sender_count_exceeded(true, false).text()]);
}

#[test]
fn stream_rejections_take_their_texts_from_the_catalog() {
    assert_eq!(Rejection::TooDeep { limit: 32 }.to_string(), "the stanza is nested deeper than 32 elements");
    assert_eq!(Rejection::TooLarge { limit: 9 }.to_string(), "the stanza is larger than 9 bytes");
    assert_eq!(
        Rejection::TooManyNodes { limit: 5 }.to_string(),
        "the stanza has more than 5 elements, attributes and texts"
    );
    assert_eq!(Rejection::Malformed.to_string(), IQ_NOT_XML.text);
}

/// README's error tables are [`readme::markdown`]; `UPDATE_README=1` rewrites them.
#[test]
fn readme_error_tables_match_the_catalog() {
    readme::check_readme_section(readme::BEGIN, readme::END, &readme::markdown(), "error tables");
}
