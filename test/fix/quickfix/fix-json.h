// JSON-lines reporting shared by the test initiator (initiator.cpp) and the self-test acceptor
// (acceptor-selftest.cpp): one line per message in or out, taken from the wire text QuickFIX logs
// (so a message QuickFIX itself rejects is reported too), and one line per event. stdout is shared
// by QuickFIX's socket thread and the command thread, hence the mutex.
#pragma once
#include <quickfix/FileLog.h>
#include <quickfix/Log.h>
#include <quickfix/SessionID.h>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace fixjson {

inline std::mutex& outMutex() {
  static std::mutex m;
  return m;
}

/** Writes one line to stdout and flushes it (the harness reads line by line). */
inline void emit(const std::string& line) {
  std::lock_guard<std::mutex> lock(outMutex());
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

/** A JSON string literal; every byte outside printable ASCII becomes \u00XX (latin1), so data
 * fields (RawData, …) and SOH survive as exact bytes. */
inline std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

/** Length tag → the data tag whose byte count it gives (FIX 4.4's data fields). */
inline int dataTagOf(int lengthTag) {
  static const std::map<int, int> pairs = {{90, 91}, {93, 89}, {95, 96}, {212, 213}, {348, 349}, {350, 351},
                                           {352, 353}, {354, 355}, {356, 357}, {358, 359}, {360, 361},
                                           {362, 363}, {364, 365}, {445, 446}, {618, 619}, {621, 622}};
  auto it = pairs.find(lengthTag);
  return it == pairs.end() ? 0 : it->second;
}

/** Splits wire text into (tag, value) pairs in order; a data field takes exactly the bytes its
 * length field gave. Stops at the first malformed field (reported as tag 0 with the rest). */
inline std::vector<std::pair<int, std::string>> splitFields(const std::string& wire) {
  std::vector<std::pair<int, std::string>> fields;
  size_t pos = 0;
  long pendingLength = -1;
  int pendingDataTag = 0;
  while (pos < wire.size()) {
    size_t eq = wire.find('=', pos);
    if (eq == std::string::npos) break;
    int tag = std::atoi(wire.substr(pos, eq - pos).c_str());
    size_t end;
    if (tag != 0 && tag == pendingDataTag && pendingLength >= 0 && eq + 1 + pendingLength <= wire.size()) {
      end = eq + 1 + static_cast<size_t>(pendingLength);
    } else {
      end = wire.find('\x01', eq + 1);
      if (end == std::string::npos) end = wire.size();
    }
    if (tag == 0) {
      fields.emplace_back(0, wire.substr(pos));
      break;
    }
    std::string value = wire.substr(eq + 1, end - eq - 1);
    pendingDataTag = dataTagOf(tag);
    pendingLength = pendingDataTag != 0 ? std::atol(value.c_str()) : -1;
    fields.emplace_back(tag, value);
    pos = end + 1;
  }
  return fields;
}

/** {"dir":"in|out","msgType":"D","seqNum":2,"fields":{"11":"c1",…},"pairs":[[11,"c1"],…],"wire":"…"}
 * `fields` keeps the first value of a repeated tag; `pairs` keeps them all in wire order. */
inline std::string messageLine(const char* dir, const std::string& wire) {
  auto fields = splitFields(wire);
  std::string msgType, seqNum = "0", obj, pairs;
  std::map<int, bool> seen;
  for (auto& f : fields) {
    if (f.first == 35 && msgType.empty()) msgType = f.second;
    if (f.first == 34 && seqNum == "0") seqNum = std::to_string(std::atol(f.second.c_str()));
    if (!pairs.empty()) pairs += ",";
    pairs += "[" + std::to_string(f.first) + "," + quote(f.second) + "]";
    if (seen[f.first]) continue;
    seen[f.first] = true;
    if (!obj.empty()) obj += ",";
    obj += quote(std::to_string(f.first)) + ":" + quote(f.second);
  }
  return std::string("{\"dir\":\"") + dir + "\",\"msgType\":" + quote(msgType) + ",\"seqNum\":" + seqNum +
         ",\"fields\":{" + obj + "},\"pairs\":[" + pairs + "],\"wire\":" + quote(wire) + "}";
}

inline void event(const std::string& name, const std::string& text = "") {
  emit("{\"event\":" + quote(name) + (text.empty() ? "" : ",\"text\":" + quote(text)) + "}");
}

/** A QuickFIX Log that reports every message as a JSON line and forwards to a FileLog. */
class JsonLog : public FIX::Log {
 public:
  explicit JsonLog(FIX::Log* file) : file_(file) {}
  void clear() override { if (file_) file_->clear(); }
  void backup() override { if (file_) file_->backup(); }
  void onIncoming(const std::string& s) override {
    emit(messageLine("in", s));
    if (file_) file_->onIncoming(s);
  }
  void onOutgoing(const std::string& s) override {
    emit(messageLine("out", s));
    if (file_) file_->onOutgoing(s);
  }
  void onEvent(const std::string& s) override {
    event("log", s);
    if (file_) file_->onEvent(s);
  }
  FIX::Log* file() { return file_; }

 private:
  FIX::Log* file_;
};

class JsonLogFactory : public FIX::LogFactory {
 public:
  explicit JsonLogFactory(const FIX::SessionSettings& settings) : files_(settings) {}
  FIX::Log* create() override { return new JsonLog(files_.create()); }
  FIX::Log* create(const FIX::SessionID& id) override { return new JsonLog(files_.create(id)); }
  void destroy(FIX::Log* log) override {
    auto* json = dynamic_cast<JsonLog*>(log);
    if (json && json->file()) files_.destroy(json->file());
    delete log;
  }

 private:
  FIX::FileLogFactory files_;
};

}  // namespace fixjson
