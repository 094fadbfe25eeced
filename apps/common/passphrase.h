// The passphrase of an encrypted key file, for the programs: POS_PASSPHRASE if set, else a
// prompt on the terminal with echo off; without either, a clear refusal.
#pragma once

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "pos/status.h"

namespace pos::apps {

inline Result<std::string> read_passphrase(const char* prompt) {
  if (const char* env = std::getenv("POS_PASSPHRASE")) return std::string(env);
  if (!isatty(STDIN_FILENO))
    return make_error(Reason::kBadKeyFile,
                      "the key is encrypted: set POS_PASSPHRASE or run on a terminal");
  std::fprintf(stderr, "%s", prompt);
  termios old{};
  tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::string line;
  std::getline(std::cin, line);
  tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::fprintf(stderr, "\n");
  return line;
}

}  // namespace pos::apps
