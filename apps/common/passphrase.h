// The passphrase of an encrypted key file, for the programs: POS_PASSPHRASE if set, else a
// prompt on the terminal with echo off; without either, a clear refusal. POS_PASSPHRASE is read
// once, then wiped and removed from the environment (so /proc/PID/environ and child processes
// do not show it); later calls get the copy.
#pragma once

#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "pos/status.h"
#include "pos_fmt.h"

namespace pos::apps {

// `why` says what the passphrase is for, in the refusal.
inline Result<std::string> read_passphrase(const char* prompt,
                                           const char* why = "the key is encrypted") {
  static std::optional<std::string> from_environment;
  if (char* env = std::getenv("POS_PASSPHRASE")) {
    from_environment = std::string(env);
    sodium_memzero(env, std::strlen(env));
    unsetenv("POS_PASSPHRASE");
  }
  if (from_environment) return *from_environment;
  if (!isatty(STDIN_FILENO))
    return make_error(Reason::kBadKeyFile,
                      std::string(why) + ": set POS_PASSPHRASE or run on a terminal");
  fmt::print(stderr, "{}", prompt);
  termios old{};
  tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::string line;
  std::getline(std::cin, line);
  tcsetattr(STDIN_FILENO, TCSANOW, &old);
  fmt::print(stderr, "\n");
  return line;
}

}  // namespace pos::apps
