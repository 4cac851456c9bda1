//! The text an item puts in front of the model (lm-eval's layout: preamble,
//! few-shot examples, then the item), and whether it goes through a chat template.

use serde::{Deserialize, Serialize};

use crate::suite::{Header, Item};

/// A prompt as a backend receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PromptText {
    /// Sent as is (the backend adds BOS if the model wants it).
    Raw(String),
    /// One user message (and an optional system message) rendered with the
    /// model's chat template, ending with the assistant's generation prompt.
    Chat {
        system: Option<String>,
        user: String,
    },
}

/// The item's prompt with the suite's preamble and few-shot examples.
pub fn build(header: &Header, item: &Item) -> PromptText {
    let settings = header.prompt_settings();
    let delimiter = settings.fewshot_delimiter();
    let target = settings.target_delimiter();
    let mut text = String::new();
    if let Some(preamble) = &settings.preamble {
        text.push_str(preamble);
        text.push_str(delimiter);
    }
    for shot in settings.few_shot.iter().flatten() {
        text.push_str(&shot.prompt);
        text.push_str(target);
        text.push_str(&shot.answer);
        text.push_str(delimiter);
    }
    text.push_str(&item.prompt);
    if settings.chat() {
        PromptText::Chat {
            system: item.system.clone().or(settings.system.clone()),
            user: text,
        }
    } else {
        PromptText::Raw(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::Suite;

    #[test]
    fn preamble_and_few_shot_come_first_with_their_delimiters() {
        let text = "name: t\nversion: '1'\nkind: generation\nlicense: MIT\nsource: {package: x, version: '1'}\n\
            prompt:\n  preamble: Answer.\n  few_shot: [{prompt: 'Q: 1+1?', answer: '2'}]\n  target_delimiter: ' A: '\n---\n\
            {\"id\":\"a\",\"prompt\":\"Q: 2+2?\",\"answer\":\"4\"}\n";
        let suite = Suite::parse_text(text, "t").unwrap();
        assert_eq!(
            build(&suite.header, &suite.items[0]),
            PromptText::Raw("Answer.\n\nQ: 1+1? A: 2\n\nQ: 2+2?".into())
        );
        let chat = Suite::parse_text(
            &text.replace(
                "  target_delimiter",
                "  chat: true\n  system: Be brief.\n  target_delimiter",
            ),
            "t",
        )
        .unwrap();
        assert!(matches!(
            build(&chat.header, &chat.items[0]),
            PromptText::Chat { system: Some(s), .. } if s == "Be brief."
        ));
    }
}
