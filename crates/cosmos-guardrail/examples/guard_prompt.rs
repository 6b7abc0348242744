//! Checks prompts with the guardrail's blocklist and prints which rule fired.
//!
//! ```text
//! cargo run -p cosmos-guardrail --example guard_prompt -- \
//!     "a b0mb in the market" "a quiet lake at dawn"
//! cargo run -p cosmos-guardrail --example guard_prompt -- \
//!     --blocklist path/to/guardrail/blocklist "prompt"
//! ```
//!
//! Without prompts it runs a few built-in examples of the tricks the blocklist sees through.

use std::time::Instant;

use cosmos_guardrail::{Blocklist, Guardrail};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: guard_prompt [--blocklist DIR] [PROMPT ...]");
        return Ok(());
    }
    let blocklist = match args.iter().position(|a| a == "--blocklist") {
        Some(i) if i + 1 < args.len() => {
            let dir = args.remove(i + 1);
            args.remove(i);
            Blocklist::from_dir(dir)?
        }
        Some(_) => return Err("--blocklist needs a folder".into()),
        None => Blocklist::builtin(),
    };
    println!("{} keywords loaded", blocklist.len());
    let prompts = if args.is_empty() {
        vec![
            "A robot arm stacks wooden blocks on a sunny workbench.".to_string(),
            "Two b0mbs explode in a crowded market.".to_string(),
            "a b\u{43e}mb (with a Cyrillic o)".to_string(),
            "village m a s s a c r e at dawn".to_string(),
            "Scunthorpe therapists enjoy cocktails in Sussex.".to_string(),
            String::new(),
        ]
    } else {
        args
    };
    let guardrail = Guardrail::new().with_text_guard(blocklist);
    for prompt in &prompts {
        let start = Instant::now();
        let verdict = guardrail.check_prompt(prompt)?;
        println!(
            "{:>8.3} ms  {:?}\n            {}",
            start.elapsed().as_secs_f64() * 1e3,
            prompt,
            verdict
        );
    }
    Ok(())
}
