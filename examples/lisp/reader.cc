#include "examples/lisp/reader.h"

#include <cctype>
#include <string>
#include <vector>

#include "examples/lisp/error.h"

namespace lisp {

std::optional<gc::Root<Value>> Reader::Next() {
  SkipSpaceAndComments();
  if (pos_ == text_.size()) return std::nullopt;
  return ReadForm();
}

void Reader::SkipSpaceAndComments() {
  while (pos_ < text_.size()) {
    if (std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      pos_++;
    } else if (text_[pos_] == ';') {
      while (pos_ < text_.size() && text_[pos_] != '\n') pos_++;
    } else {
      break;
    }
  }
}

gc::Root<Value> Reader::ReadForm() {
  SkipSpaceAndComments();
  if (pos_ == text_.size()) throw Error("unexpected end of input");
  char c = text_[pos_];
  if (c == '(') {
    pos_++;
    return ReadList();
  }
  if (c == ')') throw Error("unexpected ')'");
  if (c == '\'') {
    pos_++;
    // 'x reads as (quote x). Each step's result is a gc::Root, so `quoted`
    // and `tail` survive the allocations that follow them.
    gc::Root<Value> quoted = ReadForm();
    gc::Root<Value> tail = Cons(quoted, nullptr);
    return Cons(symbols_->Intern("quote"), tail);
  }
  return ReadAtom();
}

gc::Root<Value> Reader::ReadList() {
  // The elements are read first, each kept by its own gc::Root in a
  // std::vector (a Root is a handle: it roots its object wherever the Root
  // itself lives), then consed up from the back.
  std::vector<gc::Root<Value>> items;
  for (;;) {
    SkipSpaceAndComments();
    if (pos_ == text_.size()) throw Error("missing ')'");
    if (text_[pos_] == ')') {
      pos_++;
      break;
    }
    items.push_back(ReadForm());
  }
  gc::Root<Value> list;
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    list = Cons(*it, list);
  }
  return list;
}

gc::Root<Value> Reader::ReadAtom() {
  size_t start = pos_;
  while (pos_ < text_.size() &&
         !std::isspace(static_cast<unsigned char>(text_[pos_])) &&
         text_[pos_] != '(' && text_[pos_] != ')' && text_[pos_] != ';') {
    pos_++;
  }
  std::string token = text_.substr(start, pos_ - start);
  size_t digits = token[0] == '-' ? 1 : 0;
  bool number = token.size() > digits;
  for (size_t i = digits; i < token.size(); i++) {
    number = number && std::isdigit(static_cast<unsigned char>(token[i]));
  }
  if (number) return MakeNumber(std::stoll(token));
  return symbols_->Intern(token);
}

}  // namespace lisp
