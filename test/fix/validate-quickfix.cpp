// QuickFIX's verdict on FIX messages, for test/fix/validate-quickfix.test.ts: reads one message a
// line (fields separated by SOH) from stdin, validates it with QuickFIX's DataDictionary loaded
// from argv[1], and prints one line per message: "ok", "<373 reason> <tag>", or "parse <what>"
// when QuickFIX cannot even read it. Built at test time (QuickFIX 1.15.1: -std=c++14).
#include <quickfix/DataDictionary.h>
#include <quickfix/Message.h>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  FIX::DataDictionary dd(argv[1]);
  std::string line;
  while (std::getline(std::cin, line)) {
    try {
      FIX::Message msg(line, dd, false);
      dd.validate(msg);
      std::cout << "ok" << std::endl;
    } catch (FIX::InvalidTagNumber& e) { std::cout << "0 " << e.field << std::endl; }
    catch (FIX::RequiredTagMissing& e) { std::cout << "1 " << e.field << std::endl; }
    catch (FIX::TagNotDefinedForMessage& e) { std::cout << "2 " << e.field << std::endl; }
    catch (FIX::NoTagValue& e) { std::cout << "4 " << e.field << std::endl; }
    catch (FIX::IncorrectTagValue& e) { std::cout << "5 " << e.field << std::endl; }
    catch (FIX::IncorrectDataFormat& e) { std::cout << "6 " << e.field << std::endl; }
    catch (FIX::InvalidMessageType&) { std::cout << "11 35" << std::endl; }
    catch (FIX::RepeatedTag& e) { std::cout << "13 " << e.field << std::endl; }
    catch (FIX::TagOutOfOrder& e) { std::cout << "14 " << e.field << std::endl; }
    catch (FIX::RepeatingGroupCountMismatch& e) { std::cout << "16 " << e.field << std::endl; }
    catch (FIX::InvalidMessage& e) { std::cout << "parse " << e.what() << std::endl; }
    catch (FIX::Exception& e) { std::cout << "other " << e.what() << std::endl; }
  }
  return 0;
}
