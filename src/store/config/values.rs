//! How values are written in the file: times of day, relay addresses, ports and durations,
//! each refused with a message that quotes the value and says what is allowed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time of day, `HH:MM` in 24-hour local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    // Set directly only for the default, which is known to be valid.
    pub(super) hour: u8,
    pub(super) minute: u8,
}

impl TimeOfDay {
    /// `None` unless `hour < 24` and `minute < 60`.
    pub const fn new(hour: u8, minute: u8) -> Option<Self> {
        if hour < 24 && minute < 60 { Some(Self { hour, minute }) } else { None }
    }

    /// The hour, `0..24`.
    pub const fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, `0..60`.
    pub const fn minute(self) -> u8 {
        self.minute
    }

    /// Minutes since midnight.
    pub const fn minutes_since_midnight(self) -> u32 {
        self.hour as u32 * 60 + self.minute as u32
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// Text that is not `HH:MM`; carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a time of day: write HH:MM in 24-hour local time, e.g. \"14:00\"")]
pub struct ParseTimeOfDayError {
    /// What was given.
    pub text: String,
}

impl FromStr for TimeOfDay {
    type Err = ParseTimeOfDayError;

    /// Accepts `H:MM` and `HH:MM`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTimeOfDayError { text: s.to_owned() };
        let (h, m) = s.split_once(':').ok_or_else(err)?;
        let digits = |t: &str, lens: Range<usize>| {
            lens.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(h, 1..3) || !digits(m, 2..3) {
            return Err(err());
        }
        let (h, m) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
        Self::new(h, m).ok_or_else(err)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a WakeRequest for another subnet goes: an IP address (a wakeproxy node there, or that
/// subnet's directed broadcast address) and optionally a port (default: `peer_port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WakeRelay {
    /// The address.
    pub ip: IpAddr,
    /// The port, if not `peer_port`.
    pub port: Option<u16>,
}

impl WakeRelay {
    /// The socket address, with `default_port` if none was given.
    pub fn socket_addr(self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(default_port))
    }
}

impl fmt::Display for WakeRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => SocketAddr::new(self.ip, port).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// Text that is not `IP` or `IP:port`; carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an address: write an IP address (10.1.0.255) or IP:port (10.1.0.7:25536, \
     [2001:db8::7]:25536) with a port from 1 to 65535; host names are not resolved"
)]
pub struct ParseWakeRelayError {
    /// What was given.
    pub text: String,
}

impl FromStr for WakeRelay {
    type Err = ParseWakeRelayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self { ip, port: None });
        }
        match s.parse::<SocketAddr>() {
            Ok(sa) if sa.port() != 0 => Ok(Self { ip: sa.ip(), port: Some(sa.port()) }),
            _ => Err(ParseWakeRelayError { text: s.to_owned() }),
        }
    }
}

impl Serialize for WakeRelay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WakeRelay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An integer in `min..=max`; anything else is refused with `expecting` as what is allowed,
/// and the value quoted: "invalid value: integer `70000`, expected a port number from 1 to 65535".
struct Int {
    min: i64,
    max: i64,
    expecting: &'static str,
}

impl Int {
    const PORT: Self = Self { min: 0, max: 65535, expecting: "a port number from 1 to 65535" };
}

impl serde::de::Visitor<'_> for Int {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
        }
    }
}

/// A port; 0 passes here and is refused by [`Config::validate`](super::Config::validate).
struct Port(u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_i64(Int::PORT)?;
        u16::try_from(v).map(Port).map_err(|_| serde::de::Error::custom("port out of range"))
    }
}

pub(super) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    Port::deserialize(d).map(|p| p.0)
}

pub(super) fn port_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    Ok(Vec::<Port>::deserialize(d)?.into_iter().map(|p| p.0).collect())
}

/// An `IP:port` to listen on (`metrics_listen`); host names are not accepted.
pub(super) fn listen_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{s}` is not an IP address and port: write e.g. \"127.0.0.1:9725\", \"0.0.0.0:9725\" \
             or \"[::]:9725\" (host names are not accepted)"
        ))
    })
}

/// Guardians: any count that fits; [`Config::validate`](super::Config::validate) checks `1..=16` with a clear message.
pub(super) fn guardian_count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let int = Int { min: 0, max: i64::from(u32::MAX), expecting: "a number from 1 to 16" };
    let v = d.deserialize_i64(int)?;
    usize::try_from(v).map_err(|_| serde::de::Error::custom("guardians out of range"))
}

/// Durations as humantime text: "5s", "500ms", "2h 30m".
pub(super) mod duration_text {
    use std::fmt;
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de};

    pub(in crate::store::config) fn serialize<S: Serializer>(
        d: &Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub(in crate::store::config) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        d.deserialize_str(Visitor)
    }

    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration in quotes, such as \"5s\", \"500ms\" or \"2h\"")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            humantime::parse_duration(s).map_err(|e| {
                E::custom(format!(
                    "`{s}` is not a duration ({e}): write a number and a unit in quotes, such \
                     as \"5s\", \"500ms\" or \"2h\""
                ))
            })
        }
    }
}
