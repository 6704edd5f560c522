//! Embedded name lists (Albanian, Roma / Ashkali / Egyptian, Serbian, Bosniak / Gorani, Turkish) with
//! Zipf-like frequencies, and the spelling changes clerks make: dropped diacritics, typos, the
//! Serbian spelling of Albanian names, the definite `-i` of Albanian surnames.

use rand::Rng;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Albanian boys' given names, most frequent first.
#[rustfmt::skip]
pub(crate) const ALBANIAN_MALE: &[&str] = &[
    "Arbër", "Blerim", "Arben", "Ardit", "Albin", "Besart", "Driton", "Valon", "Leutrim", "Granit",
    "Fatos", "Gëzim", "Agon", "Arianit", "Labinot", "Liridon", "Florent", "Ilir", "Egzon", "Erion",
    "Dardan", "Endrit", "Arlind", "Lirim", "Kushtrim", "Qëndrim", "Jetmir", "Visar", "Mentor",
    "Besnik", "Shpëtim", "Xhevdet", "Çlirim", "Dritëro", "Gjergj", "Alban", "Armend", "Blend",
    "Bleron", "Diar", "Dion", "Enis", "Erblin", "Eron", "Festim", "Fisnik", "Flamur", "Gent",
    "Gentrit", "Hekuran", "Jeton", "Korab", "Lorik", "Lum", "Mal", "Mergim", "Milot", "Nderim",
    "Orgest", "Petrit", "Rilind", "Rinor", "Shkëlzen", "Taulant", "Trim", "Uran", "Valdrin",
    "Vesel", "Yll", "Zgjim", "Adrian", "Agim", "Ahmet", "Alush", "Arbnor", "Ardian", "Arsim",
    "Astrit", "Avni", "Bajram", "Bekim", "Bujar", "Burim", "Dafin", "Dëshmir", "Donat", "Drilon",
    "Edon", "Elmedin", "Emin", "Engjëll", "Erdit", "Ermal", "Fatmir", "Fidan", "Fitim", "Florian",
    "Gazmend", "Hajdin", "Hamdi", "Ismet", "Jehon", "Kastriot", "Kreshnik", "Laurent", "Leart",
    "Liburn", "Lulzim", "Mirlind", "Muhamet", "Naim", "Nazmi", "Orhan", "Pajtim", "Përparim",
    "Qazim", "Ramadan", "Rexhep", "Rrahman", "Sabri", "Sadri", "Shkumbin", "Shqipron", "Skënder",
    "Sokol", "Tahir", "Ukshin", "Urim", "Vehbi", "Veton", "Vigan", "Xhemajl", "Xhelal", "Ylber",
    "Zenel", "Zeqir", "Zef", "Zenun", "Blerton", "Bardh", "Dritan", "Elion", "Erjon", "Gjon",
    "Gramoz", "Hysni", "Jakup", "Krenar", "Lavdim", "Leonard", "Lulëzim", "Rron", "Sami", "Sefer",
    "Shefqet", "Tomor", "Valmir", "Rrezart", "Llukman", "Behar", "Bedri", "Ekrem", "Fitor",
    "Dukagjin", "Gjelosh",
];

/// Albanian girls' given names, most frequent first.
#[rustfmt::skip]
pub(crate) const ALBANIAN_FEMALE: &[&str] = &[
    "Valbona", "Mirlinda", "Lirije", "Drita", "Ardita", "Arta", "Blerta", "Donika", "Egzona",
    "Elona", "Fjolla", "Gresa", "Jehona", "Kaltrina", "Lindita", "Mimoza", "Njomza", "Qëndresa",
    "Rinore", "Shqipe", "Teuta", "Vlora", "Albina", "Albulena", "Antigona", "Arbenita", "Ariana",
    "Arjeta", "Besa", "Besiana", "Blerina", "Bukurije", "Dafina", "Dardana", "Diellza", "Doruntina",
    "Edona", "Elda", "Elira", "Eliza", "Eltona", "Emine", "Erblina", "Erëblina", "Fatbardha",
    "Fatime", "Fitore", "Flaka", "Floriana", "Fllanza", "Florentina", "Gentiana", "Gjylije",
    "Gjyljeta", "Hana", "Hatixhe", "Ilirjana", "Jeta", "Kimete", "Kujtesa", "Laura", "Leonora",
    "Lirika", "Liridona", "Lumnije", "Luljeta", "Majlinda", "Marigona", "Medina", "Merita",
    "Mirjeta", "Nora", "Pranvera", "Qamile", "Rita", "Rrezarta", "Rrezona", "Sara", "Shkurte",
    "Shpresa", "Sibora", "Trëndelina", "Valentina", "Vjosa", "Xhevahire", "Xhejlane", "Yllka",
    "Zana", "Zenepe", "Zyrafete", "Zoja", "Afërdita", "Agnesa", "Albana", "Almira", "Anila",
    "Ardiana", "Argjenta", "Arlinda", "Aurora", "Bardha", "Besarta", "Blendina", "Diana",
    "Drenusha", "Dhurata", "Edlira", "Elsa", "Era", "Erza", "Etleva", "Fatjona", "Fetije",
    "Fikrije", "Florije", "Hajrije", "Hyrije", "Kosovare", "Lendita", "Lule", "Lumturije", "Mirela",
    "Mrika", "Naile", "Nazlije", "Nertila", "Pajtesa", "Qerime", "Rabije", "Remzije", "Resmije",
    "Rina", "Rinesa", "Saranda", "Selvije", "Shega", "Shqiponja", "Sihana", "Suzana", "Trëndafile",
    "Valdete", "Vesa", "Vjollca", "Xhyla", "Yllza", "Zamira", "Zhaneta", "Gëzime", "Ejona",
    "Elvane", "Gjejlane", "Jonida", "Krenare", "Lejla", "Mrikë", "Rreze", "Ganimete",
];

/// Albanian surnames, most frequent first.
#[rustfmt::skip]
pub(crate) const ALBANIAN_SURNAMES: &[&str] = &[
    "Krasniqi", "Gashi", "Berisha", "Shala", "Morina", "Bytyqi", "Hasani", "Hoxha", "Rexhepi",
    "Kastrati", "Ahmeti", "Bajrami", "Rama", "Kryeziu", "Mustafa", "Osmani", "Salihu", "Sadiku",
    "Hyseni", "Thaçi", "Haliti", "Kelmendi", "Lleshi", "Zeqiri", "Aliu", "Avdiu", "Beqiri",
    "Bislimi", "Dervishi", "Elezi", "Fejza", "Gjoka", "Halili", "Hajdari", "Imeri", "Ismaili",
    "Jashari", "Kadriu", "Kurti", "Limani", "Maliqi", "Mehmeti", "Mulaj", "Nuhiu", "Pllana",
    "Qerimi", "Ramadani", "Rexha", "Sejdiu", "Shabani", "Sylejmani", "Tahiri", "Uka", "Veseli",
    "Xhemajli", "Ymeri", "Zymberi", "Abazi", "Ademi", "Ajeti", "Alidema", "Arifi", "Asllani",
    "Avdyli", "Azemi", "Bahtiri", "Bala", "Behrami", "Berbatovci", "Blakaj", "Bunjaku", "Buzhala",
    "Çitaku", "Çeku", "Dema", "Dobruna", "Demolli", "Dreshaj", "Emini", "Fazliu", "Gërguri",
    "Gjinolli", "Gjonbalaj", "Hajrizi", "Haxhiu", "Hoti", "Hulaj", "Ibrahimi", "Idrizi", "Islami",
    "Jakupi", "Januzi", "Kabashi", "Kadriaj", "Kolgeci", "Kuçi", "Lajçi", "Latifi", "Lushaku",
    "Maloku", "Mazreku", "Mehmetaj", "Musliu", "Nimani", "Pacolli", "Prenku", "Qorri", "Rexhaj",
    "Rrustemi", "Selimi", "Shehu", "Shkodra", "Sopjani", "Spahiu", "Sylaj", "Tmava", "Ukshini",
    "Vitia", "Vllasaliu", "Xhaferi", "Zeka", "Zhubi", "Zogaj", "Llapashtica", "Gjocaj", "Dushi",
    "Zhuri", "Gjergji", "Çollaku", "Rrahmani", "Dushaj",
];

/// Given names of Albanian fathers (an older generation).
#[rustfmt::skip]
pub(crate) const ALBANIAN_FATHERS: &[&str] = &[
    "Agim", "Bekim", "Fatmir", "Naim", "Skënder", "Bashkim", "Hysen", "Sami", "Ramadan", "Ismet",
    "Xhavit", "Hajdar", "Shaban", "Ilir", "Besim", "Burhan", "Driton", "Enver", "Fadil", "Fehmi",
    "Gani", "Halil", "Hamdi", "Hasan", "Idriz", "Isa", "Jakup", "Kadri", "Lulzim", "Mehmet", "Musa",
    "Nexhat", "Nuhi", "Osman", "Qamil", "Ramiz", "Rexhep", "Sabit", "Sadik", "Selim", "Shefqet",
    "Sylejman", "Tahir", "Ukë", "Vehbi", "Xhemajl", "Ylber", "Zenel", "Afrim", "Arsim", "Avni",
    "Bajram", "Bujar", "Fatos", "Gëzim", "Hazir", "Jetullah", "Muhamet", "Nazmi", "Qerim",
    "Rrustem", "Shemsi", "Veli", "Xhafer", "Çun", "Gjergj", "Zeqir", "Adem", "Ali", "Ahmet",
];

/// Given names frequent among Roma, Ashkali and Egyptian boys (beside the Albanian ones).
#[rustfmt::skip]
pub(crate) const RAE_MALE: &[&str] = &[
    "Elvis", "Samir", "Sabri", "Mirsad", "Enis", "Emin", "Fadil", "Ramadan", "Bekim", "Sefer",
    "Senad", "Armend", "Muhamet", "Erdogan", "Xhevat", "Isak", "Selami", "Bujar", "Mentor",
    "Kujtim", "Ilmi", "Bajram", "Elmaz", "Ramiz", "Sadik", "Rafet",
];

/// Given names frequent among Roma, Ashkali and Egyptian girls (beside the Albanian ones).
#[rustfmt::skip]
pub(crate) const RAE_FEMALE: &[&str] = &[
    "Samanta", "Sabrina", "Elmaze", "Fatime", "Merita", "Suzana", "Medina", "Ajshe", "Zenepe",
    "Elvira", "Mirlinda", "Sara", "Diana", "Esmeralda", "Leonora", "Ilirjana", "Shpresa", "Rina",
    "Erza", "Selvije", "Sebahate", "Gjylbehare", "Nurije", "Shemsije",
];

/// Surnames frequent among Roma, Ashkali and Egyptian families.
#[rustfmt::skip]
pub(crate) const RAE_SURNAMES: &[&str] = &[
    "Mustafa", "Durmishi", "Salihu", "Bajrami", "Ahmeti", "Berisha", "Gashi", "Osmani", "Kurteshi",
    "Elshani", "Gushani", "Mehmeti", "Zeqiri", "Bislimi", "Qerimi", "Krasniqi", "Hajdini", "Sejdiu",
    "Hasani", "Ramadani", "Avdiu", "Asllani", "Memeti", "Rama", "Sadiku", "Beqiri", "Selmani",
    "Dauti", "Jashari", "Alija", "Berjani", "Qamili",
];

/// Serbian boys' given names (Latin), most frequent first.
#[rustfmt::skip]
pub(crate) const SERBIAN_MALE: &[&str] = &[
    "Nikola", "Stefan", "Luka", "Marko", "Lazar", "Miloš", "Đorđe", "Nemanja", "Filip", "Aleksa",
    "Vuk", "Dušan", "Strahinja", "Uroš", "Milan", "Jovan", "Petar", "Mihajlo", "Vasilije",
    "Andrija", "Ognjen", "Veljko", "Bogdan", "Dimitrije", "Pavle", "Ilija", "Novak", "Aleksandar",
    "Nenad", "Vladimir", "Stevan", "Danilo", "Matija", "Relja", "Vukašin", "Sava", "Todor",
    "Mladen", "Srđan", "Dejan", "Miroslav", "Žarko", "Božidar", "Radoš", "Nebojša", "Ivan", "Đurađ",
    "Ljubomir", "Čedomir", "Ćirilo",
];

/// Serbian girls' given names (Latin), most frequent first.
#[rustfmt::skip]
pub(crate) const SERBIAN_FEMALE: &[&str] = &[
    "Milica", "Jovana", "Anđela", "Teodora", "Ana", "Marija", "Sara", "Jelena", "Katarina",
    "Tamara", "Nevena", "Ivana", "Dragana", "Milena", "Tijana", "Kristina", "Snežana", "Jelisaveta",
    "Nađa", "Dunja", "Sofija", "Mila", "Lenka", "Ljubica", "Vesna", "Biljana", "Gordana",
    "Danijela", "Aleksandra", "Natalija", "Anastasija", "Valentina", "Andrijana", "Nina", "Mina",
    "Lana", "Ksenija", "Zorana", "Slađana", "Đurđa", "Živana", "Čarna",
];

/// Serbian surnames (Latin), most frequent first.
#[rustfmt::skip]
pub(crate) const SERBIAN_SURNAMES: &[&str] = &[
    "Jovanović", "Petrović", "Marković", "Nikolić", "Popović", "Stojanović", "Đorđević", "Ilić",
    "Stanković", "Pavlović", "Milošević", "Ristić", "Kostić", "Stevanović", "Mitić", "Todorović",
    "Lazić", "Živković", "Vasić", "Savić", "Simić", "Tomić", "Denić", "Trajković", "Spasić",
    "Arsić", "Milenković", "Đokić", "Stojković", "Perić", "Antić", "Janković", "Jevtić", "Milić",
    "Mladenović", "Radenković", "Ćirić", "Tasić", "Kojić", "Dimitrijević", "Gligorijević",
    "Stanojević", "Veljković", "Vuković", "Šaponjić", "Rakić", "Krstić", "Lukić", "Aksić",
    "Filipović", "Jakšić", "Čolić",
];

/// Given names of Serbian fathers.
#[rustfmt::skip]
pub(crate) const SERBIAN_FATHERS: &[&str] = &[
    "Dragan", "Zoran", "Goran", "Dejan", "Nenad", "Saša", "Srđan", "Slobodan", "Miroslav",
    "Bratislav", "Živorad", "Milorad", "Radomir", "Dragoljub", "Novica", "Boban", "Dalibor",
    "Vladan", "Predrag", "Nebojša", "Ljubiša", "Momčilo", "Rade", "Milan", "Vladimir", "Branko",
    "Bojan", "Darko", "Ivica", "Stojan",
];

/// Bosniak and Gorani boys' given names.
#[rustfmt::skip]
pub(crate) const BOSNIAK_MALE: &[&str] = &[
    "Emir", "Amar", "Adnan", "Kenan", "Senad", "Edin", "Mirza", "Haris", "Ajdin", "Dženan", "Almir",
    "Nermin", "Elvir", "Enes", "Tarik", "Amel", "Jasmin", "Armin", "Eldin", "Faruk",
];

/// Bosniak and Gorani girls' given names.
#[rustfmt::skip]
pub(crate) const BOSNIAK_FEMALE: &[&str] = &[
    "Ajla", "Amina", "Lejla", "Selma", "Emina", "Merima", "Alma", "Amra", "Dženana", "Naida",
    "Lamija", "Hana", "Ena", "Minela", "Aida", "Belma", "Adna", "Esma", "Nejla", "Sara",
];

/// Bosniak and Gorani surnames.
#[rustfmt::skip]
pub(crate) const BOSNIAK_SURNAMES: &[&str] = &[
    "Hodžić", "Begović", "Kurtović", "Mehmedović", "Hadžić", "Mušić", "Ramović", "Alić",
    "Hasanović", "Ademović", "Suljić", "Kalač", "Demirović", "Bajrović", "Dautović", "Redžepi",
    "Ajdini", "Šerifi", "Sejdi", "Jusufi",
];

/// Turkish boys' given names as Kosovo Turks write them.
#[rustfmt::skip]
pub(crate) const TURKISH_MALE: &[&str] = &[
    "Mehmet", "Ahmet", "Emre", "Burak", "Kaan", "Erdal", "Erol", "Cem", "Yusuf", "Murat", "Serkan",
    "Volkan", "Ertan", "Tayfun", "Kenan", "Arda",
];

/// Turkish girls' given names as Kosovo Turks write them.
#[rustfmt::skip]
pub(crate) const TURKISH_FEMALE: &[&str] = &[
    "Ayşe", "Elif", "Zeynep", "Merve", "Büşra", "Esra", "Gizem", "Sevgi", "Derya", "Ayla", "Şeyma",
    "Aylin", "Selin", "Ebru", "Nur", "Melis",
];

/// Turkish surnames in Kosovo.
#[rustfmt::skip]
pub(crate) const TURKISH_SURNAMES: &[&str] = &[
    "Karahoda", "Tunçay", "Doğan", "Yıldız", "Mumcu", "Çerkez", "Kurtiş", "Cura", "Bulut", "Altun",
    "Şahin", "Balkan", "Gürsoy", "Hoca", "Kaya",
];

/// A name list with Zipf-like frequencies: weight of rank r (0-based) is 1 / (r + 1 + offset).
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    names: &'static [&'static str],
    cumulative: Vec<f64>,
}

impl Pool {
    pub(crate) fn new(names: &'static [&'static str], offset: f64) -> Pool {
        let mut total = 0.0;
        let cumulative = (0..names.len())
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0 + offset);
                total
            })
            .collect();
        Pool { names, cumulative }
    }

    pub(crate) fn sample<R: Rng>(&self, rng: &mut R) -> &'static str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        let index = self.cumulative.partition_point(|&c| c <= x);
        self.names
            .get(index)
            .or_else(|| self.names.last())
            .copied()
            .unwrap_or("")
    }
}

/// Every pool the population draws from.
#[derive(Debug, Clone)]
pub(crate) struct Pools {
    pub albanian_male: Pool,
    pub albanian_female: Pool,
    pub albanian_surnames: Pool,
    pub albanian_fathers: Pool,
    pub rae_male: Pool,
    pub rae_female: Pool,
    pub rae_surnames: Pool,
    pub serbian_male: Pool,
    pub serbian_female: Pool,
    pub serbian_surnames: Pool,
    pub serbian_fathers: Pool,
    pub bosniak_male: Pool,
    pub bosniak_female: Pool,
    pub bosniak_surnames: Pool,
    pub turkish_male: Pool,
    pub turkish_female: Pool,
    pub turkish_surnames: Pool,
}

impl Pools {
    pub(crate) fn new() -> Pools {
        Pools {
            albanian_male: Pool::new(ALBANIAN_MALE, 3.0),
            albanian_female: Pool::new(ALBANIAN_FEMALE, 3.0),
            albanian_surnames: Pool::new(ALBANIAN_SURNAMES, 3.0),
            albanian_fathers: Pool::new(ALBANIAN_FATHERS, 3.0),
            rae_male: Pool::new(RAE_MALE, 2.0),
            rae_female: Pool::new(RAE_FEMALE, 2.0),
            rae_surnames: Pool::new(RAE_SURNAMES, 2.0),
            serbian_male: Pool::new(SERBIAN_MALE, 2.0),
            serbian_female: Pool::new(SERBIAN_FEMALE, 2.0),
            serbian_surnames: Pool::new(SERBIAN_SURNAMES, 2.0),
            serbian_fathers: Pool::new(SERBIAN_FATHERS, 2.0),
            bosniak_male: Pool::new(BOSNIAK_MALE, 2.0),
            bosniak_female: Pool::new(BOSNIAK_FEMALE, 2.0),
            bosniak_surnames: Pool::new(BOSNIAK_SURNAMES, 2.0),
            turkish_male: Pool::new(TURKISH_MALE, 2.0),
            turkish_female: Pool::new(TURKISH_FEMALE, 2.0),
            turkish_surnames: Pool::new(TURKISH_SURNAMES, 2.0),
        }
    }
}

/// Drops diacritics as a fast typist does: ë → e (or, with `drop_final_e`, dropped at the end of a
/// word), ç/č/ć → c, š → s, ž → z, đ → dj, and any other combining mark removed.
pub(crate) fn strip_diacritics(text: &str, drop_final_e: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let at_word_end = !matches!(chars.get(i + 1), Some(n) if n.is_alphabetic());
        match c {
            'ë' | 'Ë' if drop_final_e && at_word_end && i > 1 => {}
            'đ' => out.push_str("dj"),
            'Đ' => out.push_str("Dj"),
            'ı' => out.push('i'),
            _ => out.extend(c.nfkd().filter(|m| !is_combining_mark(*m))),
        }
    }
    out
}

/// True for a Serbian Cyrillic letter.
pub(crate) fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

/// The Serbian Latin spelling of an Albanian name, as a Serbian-language office writes it:
/// xh → dž, gj → đ, q → ć, ç → č, sh → š, zh → ž, dh → d, th → t, ll → l, rr → r, x → dz,
/// ë → e, y → i (Xhevdet → Dževdet, Qëndrim → Ćendrim, Krasniqi → Krasnići).
pub(crate) fn serbianize(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars.get(i).copied().unwrap_or(' ');
        let next = chars
            .get(i + 1)
            .map(|n| n.to_lowercase().next().unwrap_or(*n));
        let lower = c.to_lowercase().next().unwrap_or(c);
        let (emit, skip): (&str, usize) = match (lower, next) {
            ('x', Some('h')) => ("dž", 2),
            ('g', Some('j')) => ("đ", 2),
            ('s', Some('h')) => ("š", 2),
            ('z', Some('h')) => ("ž", 2),
            ('d', Some('h')) => ("d", 2),
            ('t', Some('h')) => ("t", 2),
            ('l', Some('l')) => ("l", 2),
            ('r', Some('r')) => ("r", 2),
            ('x', _) => ("dz", 1),
            ('q', _) => ("ć", 1),
            ('ç', _) => ("č", 1),
            ('ë', _) => ("e", 1),
            ('y', _) => ("i", 1),
            _ => ("", 1),
        };
        if emit.is_empty() {
            out.push(c);
        } else if c.is_uppercase() {
            let mut e = emit.chars();
            if let Some(first) = e.next() {
                out.extend(first.to_uppercase());
            }
            // Whole-word capitals stay capitals (XHEVDET → DŽEVDET).
            let all_caps = chars.get(i + 1).is_some_and(|n| n.is_uppercase());
            for rest in e {
                if all_caps {
                    out.extend(rest.to_uppercase());
                } else {
                    out.push(rest);
                }
            }
        } else {
            out.push_str(emit);
        }
        i += skip;
    }
    out
}

/// Adds or removes the Albanian definite `-i` of a surname (Hasani ↔ Hasan); `None` when the
/// surname has no such form (Shala, Rama).
pub(crate) fn toggle_definite_i(surname: &str) -> Option<String> {
    let chars: Vec<char> = surname.chars().collect();
    let n = chars.len();
    if n < 4 {
        return None;
    }
    let last = chars.get(n - 1).copied()?;
    let before = chars.get(n - 2).copied()?;
    let vowel = |c: char| "aeëiouyAEËIOUY".contains(c);
    if last == 'i' && !vowel(before) {
        Some(chars.iter().take(n - 1).collect())
    } else if !vowel(last) && last.is_alphabetic() {
        Some(format!("{surname}i"))
    } else {
        None
    }
}

/// Keys of a QWERTZ keyboard next to each letter, for realistic substitutions.
fn neighbours(c: char) -> &'static str {
    match c {
        'a' => "sqy",
        'b' => "vn",
        'c' => "xv",
        'd' => "sf",
        'e' => "wr",
        'f' => "dg",
        'g' => "fh",
        'h' => "gj",
        'i' => "uo",
        'j' => "hk",
        'k' => "jl",
        'l' => "k",
        'm' => "n",
        'n' => "bm",
        'o' => "ip",
        'p' => "o",
        'q' => "wa",
        'r' => "et",
        's' => "ad",
        't' => "rz",
        'u' => "zi",
        'v' => "cb",
        'w' => "qe",
        'x' => "yc",
        'y' => "xa",
        'z' => "tu",
        _ => "aeinr",
    }
}

/// One typing error: a substitution (a neighbouring key), a transposition of two letters or a
/// deletion. Names of three letters or fewer only get substitutions. The result always differs
/// from the input and is never empty.
pub(crate) fn typo<R: Rng>(name: &str, rng: &mut R) -> String {
    let chars: Vec<char> = name.chars().collect();
    let n = chars.len();
    if n < 2 {
        return name.to_string();
    }
    for _ in 0..8 {
        let mut out = chars.clone();
        let kind = if n <= 3 { 0 } else { rng.random_range(0..3) };
        match kind {
            0 => {
                let i = rng.random_range(1..n);
                let Some(&c) = chars.get(i) else { continue };
                let lower = c.to_lowercase().next().unwrap_or(c);
                let options: Vec<char> = neighbours(lower).chars().collect();
                let Some(&replacement) = options.get(rng.random_range(0..options.len().max(1)))
                else {
                    continue;
                };
                if let Some(slot) = out.get_mut(i) {
                    *slot = if c.is_uppercase() {
                        replacement.to_uppercase().next().unwrap_or(replacement)
                    } else {
                        replacement
                    };
                }
            }
            1 => {
                let i = rng.random_range(1..n - 1);
                out.swap(i, i + 1);
            }
            _ => {
                let i = rng.random_range(1..n);
                out.remove(i);
            }
        }
        let typed: String = out.into_iter().collect();
        if typed != name && !typed.is_empty() {
            return typed;
        }
    }
    name.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    fn unique(list: &[&str]) -> usize {
        list.iter().collect::<BTreeSet<_>>().len()
    }

    #[test]
    fn lists_are_large_and_without_repeats() {
        assert!(ALBANIAN_MALE.len() >= 150, "{}", ALBANIAN_MALE.len());
        assert!(ALBANIAN_FEMALE.len() >= 150, "{}", ALBANIAN_FEMALE.len());
        assert!(
            ALBANIAN_SURNAMES.len() >= 120,
            "{}",
            ALBANIAN_SURNAMES.len()
        );
        for list in [
            ALBANIAN_MALE,
            ALBANIAN_FEMALE,
            ALBANIAN_SURNAMES,
            ALBANIAN_FATHERS,
            RAE_MALE,
            RAE_FEMALE,
            RAE_SURNAMES,
            SERBIAN_MALE,
            SERBIAN_FEMALE,
            SERBIAN_SURNAMES,
            SERBIAN_FATHERS,
            BOSNIAK_MALE,
            BOSNIAK_FEMALE,
            BOSNIAK_SURNAMES,
            TURKISH_MALE,
            TURKISH_FEMALE,
            TURKISH_SURNAMES,
        ] {
            assert_eq!(unique(list), list.len(), "repeated name in {list:?}");
        }
        assert_eq!(&ALBANIAN_SURNAMES[..3], ["Krasniqi", "Gashi", "Berisha"]);
    }

    #[test]
    fn zipf_pools_make_common_names_common() {
        let pool = Pool::new(ALBANIAN_SURNAMES, 3.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let draws = 20_000;
        let krasniqi = (0..draws)
            .filter(|_| pool.sample(&mut rng) == "Krasniqi")
            .count();
        let share = krasniqi as f64 / draws as f64;
        assert!((0.04..0.10).contains(&share), "{share}");
    }

    #[test]
    fn spelling_changes() {
        assert_eq!(serbianize("Xhevdet"), "Dževdet");
        assert_eq!(serbianize("Qëndrim"), "Ćendrim");
        assert_eq!(serbianize("Krasniqi"), "Krasnići");
        assert_eq!(serbianize("Gjergj"), "Đerđ");
        assert_eq!(serbianize("Çlirim"), "Člirim");
        assert_eq!(serbianize("Shala"), "Šala");
        assert_eq!(serbianize("Bytyqi"), "Bitići");
        assert_eq!(serbianize("Llapashtica"), "Lapaštica");
        assert_eq!(serbianize("XHEMAJLI"), "DŽEMAJLI");
        assert_eq!(strip_diacritics("Gjakovë", false), "Gjakove");
        assert_eq!(strip_diacritics("Gjakovë", true), "Gjakov");
        assert_eq!(strip_diacritics("Çlirim", true), "Clirim");
        assert_eq!(strip_diacritics("Đorđević", false), "Djordjevic");
        assert_eq!(toggle_definite_i("Hasani").as_deref(), Some("Hasan"));
        assert_eq!(toggle_definite_i("Hasan").as_deref(), Some("Hasani"));
        assert_eq!(toggle_definite_i("Shala"), None);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for name in ["Arbër", "Lum", "Krasniqi", "Yll"] {
            let t = typo(name, &mut rng);
            assert_ne!(t, name);
            assert!(!t.is_empty());
        }
    }
}
