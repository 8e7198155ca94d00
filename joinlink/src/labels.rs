//! The join block's built-in wording, per language.
//!
//! Labels carry their own punctuation, since it differs by language (French puts a
//! no-break space before a colon, Japanese uses a full-width colon).

/// The words of one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels {
    /// ISO 639-1 code.
    pub lang: &'static str,
    /// Heading of the block.
    pub title: &'static str,
    /// Heading above the join link.
    pub join_web: &'static str,
    /// Heading above the video address.
    pub join_video: &'static str,
    /// Label before the video (SIP) address.
    pub video_address: &'static str,
    /// Label before the meeting number.
    pub meeting_number: &'static str,
    /// Label before the passcode.
    pub passcode: &'static str,
    /// Heading above the dial-in numbers.
    pub join_phone: &'static str,
}

/// Built-in languages.
pub static LABELS: &[Labels] = &[
    Labels {
        lang: "en",
        title: "Join the meeting",
        join_web: "Join from a browser or the app",
        join_video: "Join from a video system",
        video_address: "Video address:",
        meeting_number: "Meeting number:",
        passcode: "Passcode:",
        join_phone: "Join by phone",
    },
    Labels {
        lang: "nl",
        title: "Deelnemen aan de vergadering",
        join_web: "Deelnemen via een browser of de app",
        join_video: "Deelnemen via een videosysteem",
        video_address: "Videoadres:",
        meeting_number: "Vergadernummer:",
        passcode: "Toegangscode:",
        join_phone: "Inbellen per telefoon",
    },
    Labels {
        lang: "de",
        title: "An der Besprechung teilnehmen",
        join_web: "Über den Browser oder die App teilnehmen",
        join_video: "Über ein Videosystem teilnehmen",
        video_address: "Videoadresse:",
        meeting_number: "Meeting-Nummer:",
        passcode: "Kenncode:",
        join_phone: "Per Telefon einwählen",
    },
    Labels {
        lang: "fr",
        title: "Rejoindre la réunion",
        join_web: "Rejoindre depuis un navigateur ou l’application",
        join_video: "Rejoindre depuis un système de visioconférence",
        video_address: "Adresse vidéo\u{a0}:",
        meeting_number: "Numéro de réunion\u{a0}:",
        passcode: "Code secret\u{a0}:",
        join_phone: "Rejoindre par téléphone",
    },
    Labels {
        lang: "es",
        title: "Unirse a la reunión",
        join_web: "Unirse desde un navegador o la aplicación",
        join_video: "Unirse desde un sistema de videoconferencia",
        video_address: "Dirección de vídeo:",
        meeting_number: "Número de reunión:",
        passcode: "Código de acceso:",
        join_phone: "Unirse por teléfono",
    },
    Labels {
        lang: "ja",
        title: "会議に参加",
        join_web: "ブラウザーまたはアプリから参加",
        join_video: "ビデオ会議システムから参加",
        video_address: "ビデオ アドレス：",
        meeting_number: "会議番号：",
        passcode: "パスコード：",
        join_phone: "電話で参加",
    },
];

/// The built-in labels of a language code (`nl`), if any.
pub fn labels(lang: &str) -> Option<&'static Labels> {
    LABELS.iter().find(|l| l.lang.eq_ignore_ascii_case(lang))
}

/// The language part of a locale (`nl-NL`, `nl_NL`, `NL`) in lower case, if it is well-formed
/// (2 or 3 letters).
pub fn primary_language(locale: &str) -> Option<String> {
    let primary = locale.trim().split(['-', '_']).next()?;
    let ok = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    ok.then(|| primary.to_ascii_lowercase())
}

/// A locale normalised for lookups: lower case, `_` as `-` (`fr_CA` -> `fr-ca`).
pub fn normalise_locale(locale: &str) -> String {
    locale.trim().replace('_', "-").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_languages_present_and_distinct() {
        for lang in ["en", "nl", "de", "fr", "es", "ja"] {
            assert!(labels(lang).is_some(), "{lang}");
        }
        for l in LABELS.iter().filter(|l| l.lang != "en") {
            assert_ne!(l.title, LABELS[0].title, "{} is untranslated", l.lang);
            assert_ne!(l.join_phone, LABELS[0].join_phone, "{} is untranslated", l.lang);
        }
    }

    #[test]
    fn locale_parsing() {
        assert_eq!(primary_language("nl-NL").as_deref(), Some("nl"));
        assert_eq!(primary_language("pt_BR").as_deref(), Some("pt"));
        assert_eq!(primary_language("JA").as_deref(), Some("ja"));
        assert_eq!(primary_language(""), None);
        assert_eq!(primary_language("x"), None);
        assert_eq!(primary_language("zh-Hant-TW").as_deref(), Some("zh"));
        assert_eq!(normalise_locale(" fr_CA "), "fr-ca");
    }
}
