//! Turning a stream of token bytes into text a client may see.
//!
//! Two things must be held back while streaming: bytes of a UTF-8 character split across
//! tokens (an emoji is often 2–4 byte-tokens), and text that might be the beginning of a stop
//! string (otherwise a client would see "Obs" before "Observation:" is recognised and cut).

/// Accumulates token bytes and releases only complete UTF-8 characters.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Add bytes; return the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    // SAFETY-free: `valid_up_to` bytes are valid UTF-8 by definition.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match error.error_len() {
                        // Incomplete sequence at the end: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Invalid bytes: replace them and keep going.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Release whatever is left (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// Outcome of feeding text to a [`StopMatcher`].
#[derive(Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// Text safe to release now (may be empty).
    Continue(String),
    /// A stop string was found: release this text (everything before the stop) and end.
    Stopped(String),
}

/// Finds stop strings in streamed text without ever releasing a partial match.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Feed newly decoded text.
    pub fn push(&mut self, text: &str) -> StopOutcome {
        if self.stops.is_empty() {
            return StopOutcome::Continue(text.to_string());
        }
        self.held.push_str(text);
        let earliest = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(at) = earliest {
            let before = self.held[..at].to_string();
            self.held.clear();
            return StopOutcome::Stopped(before);
        }
        let keep = self.longest_stop_prefix_suffix();
        let release_to = self.held.len() - keep;
        let released = self.held[..release_to].to_string();
        self.held.drain(..release_to);
        StopOutcome::Continue(released)
    }

    /// The generation ended for another reason: whatever was held back is ordinary text.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length in bytes of the longest suffix of `held` that is a proper prefix of a stop string.
    fn longest_stop_prefix_suffix(&self) -> usize {
        let mut longest = 0;
        for stop in &self.stops {
            // Only char boundaries of `held` are candidate starts.
            for (start, _) in self.held.char_indices() {
                let suffix = &self.held[start..];
                if suffix.len() <= longest {
                    break;
                }
                if suffix.len() < stop.len() && stop.starts_with(suffix) {
                    longest = suffix.len();
                    break;
                }
            }
        }
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multibyte_characters_split_across_tokens_are_buffered() {
        let snowman = "☃".as_bytes(); // 3 bytes
        let mut decoder = Utf8Decoder::default();
        assert_eq!(decoder.push(&snowman[..1]), "");
        assert_eq!(decoder.push(&snowman[1..2]), "");
        assert_eq!(decoder.push(&[snowman[2], b'a']), "☃a");
        assert_eq!(decoder.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut decoder = Utf8Decoder::default();
        assert_eq!(decoder.push(&[b'a', 0xff, b'b']), "a\u{fffd}b");
        assert_eq!(decoder.push(&[0xe2]), "");
        assert_eq!(decoder.finish(), "\u{fffd}");
    }

    #[test]
    fn partial_stop_strings_are_held_back() {
        let mut matcher = StopMatcher::new(&["Observation:".to_string()]);
        assert_eq!(
            matcher.push("Hello Obs"),
            StopOutcome::Continue("Hello ".into())
        );
        assert_eq!(matcher.push("erv"), StopOutcome::Continue(String::new()));
        assert_eq!(
            matcher.push("ation: x"),
            StopOutcome::Stopped(String::new())
        );
    }

    #[test]
    fn held_text_is_released_when_the_match_fails() {
        let mut matcher = StopMatcher::new(&["\n\n".to_string()]);
        assert_eq!(matcher.push("a\n"), StopOutcome::Continue("a".into()));
        assert_eq!(matcher.push("b"), StopOutcome::Continue("\nb".into()));
        assert_eq!(matcher.push("c\n"), StopOutcome::Continue("c".into()));
        assert_eq!(matcher.finish(), "\n");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut matcher = StopMatcher::new(&["END".to_string(), "STOP".to_string()]);
        assert_eq!(
            matcher.push("one STOP two END"),
            StopOutcome::Stopped("one ".into())
        );
    }

    #[test]
    fn no_stops_pass_everything_through() {
        let mut matcher = StopMatcher::new(&[]);
        assert_eq!(matcher.push("abc"), StopOutcome::Continue("abc".into()));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Feed `text` in the given chunk sizes; return what was released and whether it stopped.
    fn stream(text: &str, cuts: &[usize], stops: &[String]) -> (String, bool) {
        let mut matcher = StopMatcher::new(stops);
        let mut out = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut at = 0;
        let mut sizes = cuts.iter().cycle();
        while at < chars.len() {
            let n = (*sizes.next().unwrap_or(&1)).clamp(1, chars.len() - at);
            let piece: String = chars[at..at + n].iter().collect();
            at += n;
            match matcher.push(&piece) {
                StopOutcome::Continue(released) => out.push_str(&released),
                StopOutcome::Stopped(released) => {
                    out.push_str(&released);
                    return (out, true);
                }
            }
        }
        out.push_str(&matcher.finish());
        (out, false)
    }

    proptest! {
        #[test]
        fn output_is_the_text_before_the_first_stop_however_it_is_chunked(
            text in "[ab\\n:é]{0,40}",
            stop in "[ab\\n:é]{1,4}",
            cuts in proptest::collection::vec(1usize..6, 1..8),
        ) {
            let (out, stopped) = stream(&text, &cuts, std::slice::from_ref(&stop));
            match text.find(&stop) {
                Some(at) => {
                    prop_assert!(stopped);
                    prop_assert_eq!(out, &text[..at]);
                }
                None => {
                    prop_assert!(!stopped);
                    prop_assert_eq!(out, text);
                }
            }
        }

        #[test]
        fn utf8_decoder_reassembles_any_split(text in "\\PC{0,30}", cut in 1usize..5) {
            let bytes = text.as_bytes();
            let mut decoder = Utf8Decoder::default();
            let mut out = String::new();
            for chunk in bytes.chunks(cut) {
                out.push_str(&decoder.push(chunk));
            }
            out.push_str(&decoder.finish());
            prop_assert_eq!(out, text);
        }
    }
}
