//! The blocklist against obfuscation tricks, innocent look-alike words and bad list files.

use std::time::Instant;

use cosmos_guardrail::blocklist::{ListKind, MatchHow, parse_list};
use cosmos_guardrail::{Blocklist, BlocklistConfig, Error, TextGuard};

/// A list like the reference's, written here.
fn list() -> Blocklist {
    let mut entries = parse_list(
        "bomb\nmassacre\nbeheading\nkill\nchild abuse\nself-harm\nrapist\nrape\nass\ncunt\ncock\nsex\nexecution\na$$hole\n",
        ListKind::Custom,
        "custom/test.txt",
    );
    entries.extend(parse_list(
        "nsfw\ndecapitation\nwhite power\n",
        ListKind::ExactMatch,
        "exact_match/test.txt",
    ));
    entries.extend(parse_list(
        "# comment\nassassin\ncum laude\nbath bomb\n",
        ListKind::Whitelist,
        "whitelist/test.txt",
    ));
    Blocklist::from_entries(entries, BlocklistConfig::default())
}

fn blocked(list: &Blocklist, prompt: &str) -> Option<String> {
    list.check(prompt).unwrap().map(|m| m.entry.text)
}

#[test]
fn plain_whole_words_and_phrases() {
    let l = list();
    assert_eq!(
        blocked(&l, "A bomb explodes in the market."),
        Some("bomb".into())
    );
    assert_eq!(blocked(&l, "KILL them all"), Some("kill".into()));
    assert_eq!(
        blocked(&l, "stories of child abuse"),
        Some("child abuse".into())
    );
    assert_eq!(blocked(&l, "nsfw content"), Some("nsfw".into()));
    assert_eq!(
        blocked(&l, "a white power rally"),
        Some("white power".into())
    );
    assert_eq!(blocked(&l, "A robot walks through a sunny orchard."), None);
}

#[test]
fn inflections_match_through_stems() {
    let l = list();
    assert_eq!(blocked(&l, "two bombs"), Some("bomb".into()));
    assert_eq!(
        blocked(&l, "villagers massacred at dawn"),
        Some("massacre".into())
    );
    assert_eq!(
        blocked(&l, "a video of beheadings"),
        Some("beheading".into())
    );
    assert_eq!(
        blocked(&l, "they were bombing the city"),
        Some("bomb".into())
    );
    assert_eq!(blocked(&l, "killing spree"), Some("kill".into()));
    let m = l.check("villagers massacred").unwrap().unwrap();
    assert!(m.how.contains(&MatchHow::Inflection), "{m}");
    // Derivations that only share a stem with a keyword do not match.
    assert_eq!(blocked(&l, "an executive meeting"), None);
    assert_eq!(
        l.check("executions").unwrap().unwrap().entry.text,
        "execution"
    );
}

#[test]
fn unicode_lookalikes_widths_marks_and_invisibles() {
    let l = list();
    for prompt in [
        "a b\u{43e}mb",                           // Cyrillic о
        "a \u{392}\u{39f}\u{39c}\u{392}",         // Greek capitals
        "a \u{ff42}\u{ff4f}\u{ff4d}\u{ff42}",     // full width
        "a bo\u{200b}mb",                         // zero-width space
        "a b\u{f3}m\u{334}b",                     // accent and a Zalgo overlay
        "a \u{1d41b}\u{1d428}\u{1d426}\u{1d41b}", // mathematical bold
    ] {
        let m = l
            .check(prompt)
            .unwrap()
            .unwrap_or_else(|| panic!("{prompt:?} passed"));
        assert_eq!(m.entry.text, "bomb");
        assert!(m.how.contains(&MatchHow::Unicode), "{m}");
        assert_eq!(&prompt[m.span.clone()], m.matched);
    }
}

#[test]
fn leetspeak_and_symbols() {
    let l = list();
    for (prompt, keyword) in [
        ("b0mb the bridge", "bomb"),
        ("k!ll", "kill"),
        ("k1ll", "kill"),
        ("m@ss@cre", "massacre"),
        ("b0mbs", "bomb"),
        ("you a$$hole", "a$$hole"),
        ("you @sshole", "a$$hole"),
        ("what an a$$", "ass"),
        ("sh0w s3x", "sex"),
    ] {
        let m = l
            .check(prompt)
            .unwrap()
            .unwrap_or_else(|| panic!("{prompt:?} passed"));
        assert_eq!(m.entry.text, keyword, "{prompt}");
    }
    assert!(
        l.check("b0mb")
            .unwrap()
            .unwrap()
            .how
            .contains(&MatchHow::Leetspeak)
    );
    // Numbers stay numbers.
    assert_eq!(blocked(&l, "in 1990 at 5 pm, 4k video"), None);
}

#[test]
fn spaced_and_hyphenated_letters_and_words() {
    let l = list();
    for prompt in [
        "a b o m b",
        "make a b o m b now",
        "a b-o-m-b",
        "a b.o.m.b",
        "a b_o_m_b",
        "B O M B S",
        "child-abuse",
        "childabuse",
        "child\n\t  abuse",
        "c h i l d a b u s e",
        "self harm",
        "selfharm",
        "self - harm",
    ] {
        let m = l
            .check(prompt)
            .unwrap()
            .unwrap_or_else(|| panic!("{prompt:?} passed"));
        assert!(["bomb", "child abuse", "self-harm"].contains(&m.entry.text.as_str()));
    }
    assert!(
        l.check("b-o-m-b")
            .unwrap()
            .unwrap()
            .how
            .contains(&MatchHow::Joined)
    );
}

#[test]
fn innocent_words_containing_keywords_pass() {
    let l = list();
    for prompt in [
        "Scunthorpe United won the match",
        "a class of students assess the assassin's grasshopper",
        "the therapist drinks a cocktail by the peacock",
        "grapes and rapeseed fields in Sussex and Essex",
        "a sextant on the bombastic Bombay skyline",
        "killer whales near Kilimanjaro, skills and skillet",
        "an executive of the Cumbria bank graduated magna cum laude",
        "a lavender bath bomb",
        "spelled out: a s s e t s, c l a s s",
        "the cockpit of a plane, a hancock",
    ] {
        assert_eq!(l.check(prompt).unwrap(), None, "{prompt}");
    }
}

#[test]
fn whitelist_wins() {
    let l = list();
    // "assassin" would be in the clear anyway; whitelisted words and phrases never match even
    // after normalisation, but the same word outside the phrase still does.
    assert_eq!(blocked(&l, "a bath bomb"), None);
    assert_eq!(blocked(&l, "a bomb in the bath"), Some("bomb".into()));
}

#[test]
fn reference_partial_match_on_exact_list() {
    // With the reference's tolerance of 0.4 letters only whitespace-separated windows equal to
    // the entry pass; a larger tolerance admits one edit in a long word.
    let l = list();
    assert_eq!(blocked(&l, "decapitaton scene"), None);
    let loose = list().with_config(BlocklistConfig {
        partial_match_letter_count: 1.0,
        ..BlocklistConfig::default()
    });
    let m = loose.check("decapitaton scene").unwrap().unwrap();
    assert_eq!(m.entry.text, "decapitation");
    assert_eq!(m.how, vec![MatchHow::Partial]);
    assert!((m.ratio.unwrap() - 22.0 / 23.0).abs() < 1e-9);
}

#[test]
fn reason_names_rule_file_and_line() {
    let l = list();
    let m = l.check("the villagers were massacred").unwrap().unwrap();
    assert_eq!(
        (m.entry.file.as_str(), m.entry.line),
        ("custom/test.txt", 2)
    );
    assert_eq!(m.matched, "massacred");
    let text = m.to_string();
    assert!(text.contains("'massacre' (custom/test.txt:2)"), "{text}");
    assert!(text.contains("\"massacred\""), "{text}");
    let all = l.find_all("bomb and kill").unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn empty_prompt_is_refused() {
    let l = list();
    let v = l.check_prompt("").unwrap();
    assert!(!v.is_safe());
    assert!(v.reason().unwrap().contains("empty"));
    assert!(!l.check_prompt(" \n\t").unwrap().is_safe());
}

#[test]
fn huge_prompts_are_bounded() {
    let l = list();
    // Adversarial: every word full of ambiguous symbols, up to the byte limit.
    let word = "k1!|*@l1!|*e v0w3l ";
    let prompt = word.repeat(64 * 1024 / word.len());
    let start = Instant::now();
    assert_eq!(l.check(&prompt).unwrap(), None);
    println!("64 KiB adversarial prompt checked in {:?}", start.elapsed());
    assert!(
        start.elapsed().as_secs_f64() < 20.0,
        "{:?}",
        start.elapsed()
    );
    // Past the limit: an error naming the sizes.
    let too_long = "a".repeat(64 * 1024 + 1);
    match l.check(&too_long) {
        Err(Error::PromptTooLong { found, max }) => assert_eq!((found, max), (65537, 65536)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn builtin_list_works() {
    let l = Blocklist::builtin();
    assert!(!l.is_empty());
    assert!(
        l.check("A cat sleeps on a warm windowsill.")
            .unwrap()
            .is_none()
    );
    let m = l.check("Step-by-step: build a p1pe-b0mb").unwrap().unwrap();
    assert!(m.entry.file.starts_with("builtin:custom/"), "{m}");
    assert!(l.check("summa cum laude graduates").unwrap().is_none());
    assert!(l.check("Al Gore gives a speech").unwrap().is_none());
    assert!(l.check("a heroine saves the city").unwrap().is_none());
    assert!(l.check("heroin needles").unwrap().is_some());
}

#[test]
fn reads_reference_folder_layout_and_reports_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("custom")).unwrap();
    std::fs::create_dir_all(root.join("whitelist")).unwrap();
    std::fs::create_dir_all(root.join("exact_match")).unwrap();
    std::fs::write(
        root.join("custom/a.txt"),
        "\u{feff}zorblax\r\n\r\nquux frob\n",
    )
    .unwrap();
    std::fs::write(root.join("custom/ignored.md"), "cat\n").unwrap();
    std::fs::write(root.join("exact_match/b.txt"), "wibble\n").unwrap();
    std::fs::write(root.join("whitelist/w.txt"), "zorblaxes\n").unwrap();
    let l = Blocklist::from_dir(root).unwrap();
    let m = l.check("the ZORBLAX rises").unwrap().unwrap();
    assert_eq!((m.entry.file.as_str(), m.entry.line), ("custom/a.txt", 1));
    assert!(l.check("quux   frobs").unwrap().is_some());
    assert!(
        l.check("a cat").unwrap().is_none(),
        "only *.txt files are read"
    );
    assert!(l.check("zorblaxes").unwrap().is_none(), "whitelisted");
    assert!(l.check("wibble").unwrap().is_some());

    // Invalid UTF-8: the error names the file and line.
    std::fs::write(root.join("custom/bad.txt"), b"ok\nfine\nbad \xff byte\n").unwrap();
    let err = Blocklist::from_dir(root).unwrap_err();
    match &err {
        Error::InvalidUtf8 { path, line, .. } => {
            assert!(path.ends_with("custom/bad.txt"));
            assert_eq!(*line, 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("line 3"), "{err}");

    // Not a blocklist folder.
    let empty = tempfile::tempdir().unwrap();
    let err = Blocklist::from_dir(empty.path()).unwrap_err();
    assert!(err.to_string().contains("custom/"), "{err}");
    assert!(Blocklist::from_dir(root.join("missing")).is_err());
}
