//! Our SentencePiece against SentencePiece itself, on the tiny T5-style model in
//! testdata/spm (trained and recorded by testdata/spm/make_spm.py with sentencepiece 0.2.3).

use cosmos_text::Error;
use cosmos_text::tokenizer::{SentencePiece, T5Tokenizer, Truncation};

const SPM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/spm/");

fn cases() -> Vec<(String, Vec<u32>, Vec<String>)> {
    let text = std::fs::read_to_string(format!("{SPM}cases.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["text"].as_str().unwrap().to_string(),
                c["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u32)
                    .collect(),
                c["pieces"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn ids_equal_sentencepiece() {
    let sp = SentencePiece::from_file(format!("{SPM}tiny_t5.model")).unwrap();
    assert_eq!(sp.len(), 300);
    let cases = cases();
    assert!(cases.len() >= 16);
    for (text, ids, pieces) in &cases {
        assert_eq!(&sp.encode(text), ids, "ids of {text:?}");
        let ours: Vec<String> = sp.encode_pieces(text).into_iter().map(|(p, _)| p).collect();
        assert_eq!(&ours, pieces, "pieces of {text:?}");
    }
}

#[test]
fn nmt_nfkc_rules_come_from_the_charsmap() {
    let sp = SentencePiece::from_file(format!("{SPM}tiny_t5.model")).unwrap();
    // Full-width letters and the ﬁ ligature fold (NFKC), tabs become spaces (NMT rule),
    // runs of whitespace collapse, leading and trailing whitespace go.
    assert_eq!(sp.normalize("ＡＢＣ ﬁsh"), "\u{2581}ABC\u{2581}fish");
    assert_eq!(sp.normalize("\ta\t\tb  \n"), "\u{2581}a\u{2581}b");
    assert_eq!(sp.normalize(" \t \n"), "");
}

#[test]
fn special_ids_and_round_trip() {
    let tok = T5Tokenizer::from_file(format!("{SPM}tiny_t5.model")).unwrap();
    assert_eq!(
        (tok.pad_id(), tok.eos_id(), tok.sentencepiece().unk_id()),
        (0, 1, 2)
    );
    let text = "a robot arm picks up a small blue cube from the table";
    let ids = tok.encode(text).unwrap();
    assert_eq!(ids.last(), Some(&1));
    assert_eq!(tok.sentencepiece().decode(&ids), text);
}

#[test]
fn batches_are_padded_truncated_and_checked() {
    let tok = T5Tokenizer::from_file(format!("{SPM}tiny_t5.model")).unwrap();
    let long = "The camera pans left to reveal a crowded market. ".repeat(40);
    let long_ids = tok.encode(&long).unwrap();
    assert!(long_ids.len() > 64);

    let batch = tok
        .encode_batch(&["hello world", long.as_str()], 64, Truncation::Warn)
        .unwrap();
    let short_ids = tok.encode("hello world").unwrap();
    assert_eq!(batch.lengths, vec![short_ids.len(), 64]);
    assert_eq!(batch.full_lengths, vec![short_ids.len(), long_ids.len()]);
    assert_eq!(&batch.ids[0][..short_ids.len()], &short_ids[..]);
    assert!(batch.ids[0][short_ids.len()..].iter().all(|&t| t == 0));
    // Truncation keeps the first 63 pieces and ends with the EOS, as transformers does.
    assert_eq!(&batch.ids[1][..63], &long_ids[..63]);
    assert_eq!(batch.ids[1][63], 1);
    assert!(!batch.truncated(0) && batch.truncated(1));
    assert_eq!(batch.truncation_warnings().len(), 1);

    match tok.encode_batch(&["fine", long.as_str()], 64, Truncation::Refuse) {
        Err(Error::PromptTooLong {
            index: 1,
            tokens,
            max_length: 64,
        }) => {
            assert_eq!(tokens, long_ids.len())
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
    assert!(matches!(
        tok.encode_batch(&["fine", "  \t"], 64, Truncation::Warn),
        Err(Error::EmptyPrompt { index: 1, .. })
    ));
    assert!(matches!(
        tok.encode(""),
        Err(Error::EmptyPrompt { index: 0, .. })
    ));
    assert!(matches!(
        tok.encode_batch::<&str>(&[], 64, Truncation::Warn),
        Err(Error::NoPrompts)
    ));
}

#[test]
fn corrupt_model_file_is_a_typed_error() {
    let bytes = std::fs::read(format!("{SPM}tiny_t5.model")).unwrap();
    let cut = &bytes[..bytes.len() / 2];
    assert!(matches!(
        SentencePiece::from_bytes(cut),
        Err(Error::TokenizerModel { .. })
    ));
    assert!(matches!(
        T5Tokenizer::from_file(format!("{SPM}missing.model")),
        Err(Error::Io { .. })
    ));
}
