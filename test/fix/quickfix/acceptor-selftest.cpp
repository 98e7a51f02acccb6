// A minimal QuickFIX C++ FIX 4.4 acceptor that proves the test harness before matchbook's own
// acceptor exists (test/fix/quickfix-harness.test.ts): it accepts any Logon and fills every
// NewOrderSingle at its price (ExecutionReport 150=F 39=2). An order whose ClOrdID starts with
// "hold-" is only acknowledged (150=0 39=0); its fill is sent when the session drops, so QuickFIX
// stores it unsent and the initiator must ask for it (ResendRequest) after its next logon. Reports
// every message and event as JSON lines on stdout (fix-json.h); `quit` on stdin stops it.
#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>
#include "fix-json.h"

namespace {

class Executor : public FIX::Application {
 public:
  void onCreate(const FIX::SessionID&) override {}
  void onLogon(const FIX::SessionID&) override { fixjson::event("logon"); }
  void onLogout(const FIX::SessionID& id) override {
    // Not logged on now: QuickFIX numbers and stores these without sending them.
    std::vector<FIX::Message> held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held.swap(held_);
    }
    for (auto& m : held) FIX::Session::sendToTarget(m, id);
    fixjson::event("logout");
  }
  void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}
  void fromAdmin(const FIX::Message&, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon) override {}
  void fromApp(const FIX::Message& m, const FIX::SessionID& id) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::UnsupportedMessageType) override {
    if (m.getHeader().getField(FIX::FIELD::MsgType) != "D") throw FIX::UnsupportedMessageType();
    std::string clOrdId = m.getField(11);
    bool hold = clOrdId.rfind("hold-", 0) == 0;
    FIX::Message fill = report(m, "F", "2");
    if (hold) {
      FIX::Message ack = report(m, "0", "0");
      FIX::Session::sendToTarget(ack, id);
      std::lock_guard<std::mutex> lock(mutex_);
      held_.push_back(fill);
    } else {
      FIX::Session::sendToTarget(fill, id);
    }
  }

 private:
  std::mutex mutex_;
  std::vector<FIX::Message> held_;
  int nextId_ = 1;

  /** An ExecutionReport for order `m`: 150=F 39=2 fills it whole at its price, 150=0 39=0 acks it. */
  FIX::Message report(const FIX::Message& m, const char* execType, const char* ordStatus) {
    std::string qty = m.getField(38);
    std::string px = m.isSetField(44) ? m.getField(44) : "1";
    bool filled = std::string(execType) == "F";
    FIX::Message er;
    er.getHeader().setField(FIX::FIELD::MsgType, "8");
    int n = nextId_++;
    er.setField(37, "O-" + m.getField(11));
    er.setField(17, "E" + std::to_string(n));
    er.setField(11, m.getField(11));
    er.setField(150, execType);
    er.setField(39, ordStatus);
    er.setField(55, m.getField(55));
    er.setField(54, m.getField(54));
    er.setField(38, qty);
    if (m.isSetField(44)) er.setField(44, px);
    er.setField(14, filled ? qty : "0");
    er.setField(151, filled ? "0" : qty);
    er.setField(6, filled ? px : "0");
    if (filled) {
      er.setField(31, px);
      er.setField(32, qty);
    }
    return er;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: acceptor-selftest <config file>" << std::endl;
    return 2;
  }
  try {
    FIX::SessionSettings settings(argv[1]);
    Executor app;
    FIX::FileStoreFactory store(settings);
    fixjson::JsonLogFactory log(settings);
    FIX::SocketAcceptor acceptor(app, store, settings, log);
    acceptor.start();
    fixjson::event("started");
    for (std::string line; std::getline(std::cin, line);)
      if (line == "quit") break;
    acceptor.stop();
    fixjson::event("stopped");
    return 0;
  } catch (std::exception& e) {
    fixjson::event("error", e.what());
    return 3;
  }
}
