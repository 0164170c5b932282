//! keyrotate's stand-in for `whoami`: tokio-postgres calls exactly one of
//! its functions, `username()`, and only when a connection names no user,
//! which keyrotate's connections always do. The real crate links Apple's
//! SystemConfiguration framework on macOS, which a cross build on Linux
//! cannot link; this one needs nothing but libc.
//!
//! The answer is node-postgres's: `USER`, else the name of the process's
//! user in the password database.

use std::io;

/// The current user's login name.
pub fn username() -> io::Result<String> {
    match std::env::var_os("USER").filter(|user| !user.is_empty()) {
        Some(user) => user
            .into_string()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "USER is not UTF-8")),
        None => passwd_name(),
    }
}

#[cfg(unix)]
fn passwd_name() -> io::Result<String> {
    use std::ffi::CStr;

    let mut buffer = vec![0u8; 1024];
    loop {
        // SAFETY: `passwd` is plain data, for which all zeroes is a valid value.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `entry` and `found`
        // are ours, and `buffer` is writable for the length passed with it.
        let status = unsafe {
            libc::getpwuid_r(
                libc::getuid(),
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        match status {
            libc::ERANGE => buffer.resize(buffer.len() * 2, 0),
            0 if found.is_null() => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no password database entry for this process's user",
                ))
            }
            // SAFETY: on success `pw_name` points to a NUL-terminated string
            // inside `buffer`, which outlives this borrow.
            0 => {
                return unsafe { CStr::from_ptr(entry.pw_name) }
                    .to_str()
                    .map(str::to_owned)
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "the user name is not UTF-8")
                    })
            }
            error => return Err(io::Error::from_raw_os_error(error)),
        }
    }
}

#[cfg(not(unix))]
fn passwd_name() -> io::Result<String> {
    std::env::var("USERNAME")
        .map_err(|_| io::Error::new(io::ErrorKind::NotFound, "USERNAME is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, because it changes the process's environment.
    #[test]
    #[cfg(unix)]
    fn user_wins_and_the_password_database_answers_without_it() {
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let expected = String::from_utf8(id.stdout).unwrap().trim().to_owned();
        let saved = std::env::var_os("USER");
        std::env::remove_var("USER");
        assert_eq!(
            username().unwrap(),
            expected,
            "the password database's name, as whoami gives it"
        );
        std::env::set_var("USER", "someone-else");
        assert_eq!(username().unwrap(), "someone-else");
        std::env::set_var("USER", "");
        assert_eq!(username().unwrap(), expected, "an empty USER is no answer");
        match saved {
            Some(user) => std::env::set_var("USER", user),
            None => std::env::remove_var("USER"),
        }
    }
}
