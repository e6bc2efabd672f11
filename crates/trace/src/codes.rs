//! Names and numbers of commands and outcomes, shared by the readable and the compact format.

use cachescope_core::{Command, ErrorKind, FlushScope, Outcome, Removal, WriteCondition};

pub const COMMANDS: [(Command, &str); 12] = [
    (Command::Read, "read"),
    (Command::Write(WriteCondition::Always), "write"),
    (Command::Write(WriteCondition::IfAbsent), "write_nx"),
    (Command::Write(WriteCondition::IfPresent), "write_xx"),
    (Command::Delete, "delete"),
    (Command::Expire, "expire"),
    (Command::Flush(FlushScope::Db), "flushdb"),
    (Command::Flush(FlushScope::All), "flushall"),
    (Command::Flush(FlushScope::Restart), "restart"),
    (Command::Marker, "marker"),
    (Command::Removed(Removal::Expired), "expired"),
    (Command::Removed(Removal::Evicted), "evicted"),
];

pub fn command_name(command: Command) -> &'static str {
    COMMANDS.iter().find(|(c, _)| *c == command).map(|(_, name)| *name).expect("every command has a name")
}

pub fn command_from_name(name: &[u8]) -> Option<Command> {
    COMMANDS.iter().find(|(_, n)| n.as_bytes() == name).map(|(c, _)| *c)
}

/// The command's code in the compact format: its index in [`COMMANDS`].
pub fn command_code(command: Command) -> u8 {
    COMMANDS.iter().position(|(c, _)| *c == command).expect("every command has a code") as u8
}

pub fn command_from_code(code: u8) -> Option<Command> {
    COMMANDS.get(code as usize).map(|(c, _)| *c)
}

/// Whether the event has a key (flushes and restarts have none).
pub fn has_key(command: Command) -> bool {
    !matches!(command, Command::Flush(_))
}

pub fn outcome_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Unobserved => 0,
        Outcome::Hit => 1,
        Outcome::Miss => 2,
        Outcome::Ok => 3,
        Outcome::Error(_) => 4,
    }
}

pub fn error_code(kind: ErrorKind) -> u8 {
    ErrorKind::ALL.iter().position(|k| *k == kind).expect("listed") as u8
}

pub fn error_from_code(code: u8) -> ErrorKind {
    ErrorKind::ALL.get(code as usize).copied().unwrap_or(ErrorKind::Other)
}
