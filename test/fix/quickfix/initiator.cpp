// The independent FIX 4.4 engine of the interop tests: a QuickFIX C++ SocketInitiator (Debian's
// libquickfix-dev 1.15.1) driven by line commands on stdin, reporting every message in and out and
// every session event as one JSON line on stdout (fix-json.h). harness.ts builds and drives it;
// README.md lists the commands. Built with -std=c++14 (the 1.15.1 headers' throw() specs) and no
// HAVE_STD_UNIQUE_PTR (the Debian library's ABI uses auto_ptr).
//
// Logon signing (toAdmin): 553 Username = the API key; 95/96 RawDataLength/RawData = lowercase hex
// HMAC-SHA256(secret, `${sendingTimeMs}\n${target}\n${sha256hex("")}`), target =
// `FIX.4.4 A ${SenderCompID} ${TargetCompID} ${MsgSeqNum}` — api/signing.ts canonicalRequest with an
// empty body; 8013 CancelOrdersOnDisconnect = Y/N.
#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>
#include "fix-json.h"

namespace {

const char* EMPTY_SHA256_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** "YYYYMMDD-HH:MM:SS[.fff…]" (UTC) → milliseconds since the epoch, fraction truncated to ms. */
long long utcTimestampMs(const std::string& s) {
  if (s.size() < 17) return -1;
  std::tm t = {};
  t.tm_year = std::atoi(s.substr(0, 4).c_str()) - 1900;
  t.tm_mon = std::atoi(s.substr(4, 2).c_str()) - 1;
  t.tm_mday = std::atoi(s.substr(6, 2).c_str());
  t.tm_hour = std::atoi(s.substr(9, 2).c_str());
  t.tm_min = std::atoi(s.substr(12, 2).c_str());
  t.tm_sec = std::atoi(s.substr(15, 2).c_str());
  long long ms = static_cast<long long>(timegm(&t)) * 1000;
  if (s.size() > 18 && s[17] == '.') {
    std::string frac = (s.substr(18) + "000").substr(0, 3);
    ms += std::atoi(frac.c_str());
  }
  return ms;
}

std::string hmacSha256Hex(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < len; i++) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

/** %XX-decodes a command value, so a raw field can carry spaces, SOH or any byte. */
std::string percentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Settings {
  std::string apiKey, secret, cancelOnDisconnect = "N";
  int port = 0;
};

class App : public FIX::Application {
 public:
  explicit App(const Settings& s) : settings_(s) {}
  std::atomic<bool> dropping{false};

  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID&) override { fixjson::event("logon"); }
  void onLogout(const FIX::SessionID& id) override {
    // A `disconnect` command: disable the session here, in QuickFIX's own thread, before its
    // reconnect timer can run, so it stays down until `logon`.
    if (dropping.exchange(false)) FIX::Session::lookupSession(id)->logout();
    fixjson::event("logout");
  }
  void toAdmin(FIX::Message& m, const FIX::SessionID& id) override {
    if (m.getHeader().getField(FIX::FIELD::MsgType) != "A") return;
    const FIX::FieldMap& h = m.getHeader();
    std::string target = "FIX.4.4 A " + id.getSenderCompID().getString() + " " +
                         id.getTargetCompID().getString() + " " + h.getField(FIX::FIELD::MsgSeqNum);
    std::string canonical = std::to_string(utcTimestampMs(h.getField(FIX::FIELD::SendingTime))) + "\n" + target +
                            "\n" + EMPTY_SHA256_HEX;
    std::string signature = hmacSha256Hex(settings_.secret, canonical);
    m.setField(553, settings_.apiKey);
    m.setField(95, std::to_string(signature.size()));
    m.setField(96, signature);
    m.setField(8013, settings_.cancelOnDisconnect);
  }
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}
  void fromAdmin(const FIX::Message&, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon) override {}
  void fromApp(const FIX::Message&, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::UnsupportedMessageType) override {}

 private:
  Settings settings_;
};

/** Shuts down the TCP connection to the acceptor (found by its peer port) without a Logout:
 * QuickFIX's socket thread then sees the close and disconnects the session its own way. */
bool dropConnection(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return false;
  bool dropped = false;
  while (dirent* e = readdir(dir)) {
    int fd = std::atoi(e->d_name);
    sockaddr_storage peer = {};
    socklen_t len = sizeof peer;
    if (fd <= 2 || getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    int peerPort = peer.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port)
                   : peer.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port)
                                                : -1;
    if (peerPort == port && shutdown(fd, SHUT_RDWR) == 0) dropped = true;
  }
  closedir(dir);
  return dropped;
}

using Args = std::vector<std::string>;

/** Adds `tag=value` tokens from args[from…] to the message (the extras of every command). */
bool addExtras(FIX::Message& m, const Args& args, size_t from, std::string& error) {
  for (size_t i = from; i < args.size(); i++) {
    size_t eq = args[i].find('=');
    int tag = eq == std::string::npos ? 0 : std::atoi(args[i].substr(0, eq).c_str());
    if (tag <= 0) {
      error = "not tag=value: " + args[i];
      return false;
    }
    std::string value = percentDecode(args[i].substr(eq + 1));
    if (tag == 8 || tag == 9 || tag == 35 || tag == 34 || tag == 49 || tag == 56 || tag == 52 || tag == 43 ||
        tag == 122 || tag == 97)
      m.getHeader().setField(tag, value);
    else
      m.setField(tag, value);
  }
  return true;
}

FIX::Message appMessage(const std::string& msgType, bool transactTime = true) {
  FIX::Message m;
  m.getHeader().setField(FIX::FIELD::MsgType, msgType);
  if (transactTime) m.setField(FIX::UtcTimeStampField(FIX::FIELD::TransactTime, FIX::UtcTimeStamp(), 3));
  return m;
}

/** Positional arguments end at the first tag=value token; "-" leaves an optional one out. */
size_t positional(const Args& args) {
  size_t n = 1;
  while (n < args.size() && args[n].find('=') == std::string::npos) n++;
  return n - 1;
}

bool setIf(FIX::Message& m, int tag, const Args& args, size_t i) {
  if (i < args.size() && args[i].find('=') == std::string::npos && args[i] != "-") m.setField(tag, args[i]);
  return true;
}

/** The positional arguments each command takes (after them: tag=value extras only). */
bool arityOk(const std::string& cmd, size_t n) {
  static const std::map<std::string, std::pair<size_t, size_t>> arity = {
      {"place", {5, 7}}, {"amend", {6, 6}}, {"cancel", {4, 4}}, {"masscancel", {2, 3}}, {"status", {3, 3}}, {"raw", {1, 1}}};
  auto it = arity.find(cmd);
  return it != arity.end() && n >= it->second.first && n <= it->second.second;
}

/** Builds the message of an order command; false with `error` for a malformed command. */
bool buildOrderMessage(const Args& a, FIX::Message& m, std::string& error) {
  const std::string& cmd = a[0];
  size_t n = positional(a);
  if (!arityOk(cmd, n)) {
    error = "unknown command or wrong number of arguments (test/fix/quickfix/README.md)";
    return false;
  }
  if (cmd == "place") {
    m = appMessage("D");
    m.setField(11, a[1]); m.setField(55, a[2]); m.setField(54, a[3]); m.setField(40, a[4]); m.setField(38, a[5]);
    setIf(m, 44, a, 6);
    setIf(m, 59, a, 7);
  } else if (cmd == "amend") {
    m = appMessage("G");
    m.setField(11, a[1]); m.setField(41, a[2]); m.setField(55, a[3]); m.setField(54, a[4]); m.setField(38, a[5]);
    m.setField(44, a[6]); m.setField(40, "2");
  } else if (cmd == "cancel") {
    m = appMessage("F");
    m.setField(11, a[1]); m.setField(41, a[2]); m.setField(55, a[3]); m.setField(54, a[4]);
  } else if (cmd == "masscancel") {
    m = appMessage("q");
    m.setField(11, a[1]); m.setField(530, a[2]);
    setIf(m, 55, a, 3);
  } else if (cmd == "status") {
    m = appMessage("H", false);
    m.setField(11, a[1]); m.setField(55, a[2]); m.setField(54, a[3]);
  } else {
    m = appMessage(a[1], false);
  }
  return addExtras(m, a, n + 1, error);
}

struct Runner {
  App& app;
  FIX::SocketInitiator& initiator;
  FIX::SessionID sid;
  int port;

  FIX::Session* session() { return FIX::Session::lookupSession(sid); }

  /** Runs one command; false with `error` when it could not be done. */
  bool run(const Args& a, std::string& error) {
    const std::string& cmd = a[0];
    if (cmd == "disconnect") {
      app.dropping = true;
      if (dropConnection(port)) return true;
      app.dropping = false;
      error = "no connection to drop";
      return false;
    }
    if (cmd == "logon") return session()->logon(), true;
    if (cmd == "logout") return session()->logout(a.size() > 1 ? a[1] : ""), true;
    if (cmd == "seqnum" && a.size() == 3) {
      int next = std::atoi(a[2].c_str());
      if (a[1] == "sender") return session()->setNextSenderMsgSeqNum(next), true;
      if (a[1] == "target") return session()->setNextTargetMsgSeqNum(next), true;
    }
    FIX::Message m;
    if (!buildOrderMessage(a, m, error)) return false;
    // Not logged on: QuickFIX stores the message under the next sequence number without sending
    // it, and resends it when the acceptor asks after the next logon.
    if (FIX::Session::sendToTarget(m, sid)) return true;
    error = "QuickFIX did not take the message";
    return false;
  }
};

Args tokens(const std::string& line) {
  Args out;
  std::istringstream in(line);
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: initiator <config file>" << std::endl;
    return 2;
  }
  try {
    FIX::SessionSettings settings(argv[1]);
    FIX::SessionID sid = *settings.getSessions().begin();
    const FIX::Dictionary& d = settings.get(sid);
    Settings s;
    s.apiKey = d.getString("MatchbookApiKey");
    s.secret = d.getString("MatchbookSecret");
    s.cancelOnDisconnect = d.getString("CancelOrdersOnDisconnect");
    s.port = std::atoi(d.getString("SocketConnectPort").c_str());
    App app(s);
    FIX::FileStoreFactory store(settings);
    fixjson::JsonLogFactory log(settings);
    FIX::SocketInitiator initiator(app, store, settings, log);
    initiator.start();
    fixjson::event("started");
    Runner runner{app, initiator, sid, s.port};
    for (std::string line; std::getline(std::cin, line);) {
      Args a = tokens(line);
      if (a.empty()) continue;
      if (a[0] == "quit") break;
      std::string error;
      bool ok = false;
      try {
        ok = runner.run(a, error);
      } catch (std::exception& e) {
        error = e.what();
      }
      fixjson::emit("{\"event\":\"command\",\"command\":" + fixjson::quote(a[0]) + ",\"ok\":" +
                    (ok ? "true" : "false") + (ok ? "" : ",\"text\":" + fixjson::quote(error)) + "}");
    }
    initiator.stop();  // logs out a logged-on session and waits for the answer
    fixjson::event("stopped");
    return 0;
  } catch (std::exception& e) {
    fixjson::event("error", e.what());
    return 3;
  }
}
