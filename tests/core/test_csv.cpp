#include <doctest/doctest.h>

#include "test_support.hpp"

#include <sstream>
#include <string>
#include <vector>

#include "approxnn/core/csv.hpp"
#include "approxnn/core/error.hpp"

namespace {

using record = std::vector<std::string>;

/// Every record of `text` read through csv_reader, with the line each record started on.
struct parsed {
    std::vector<record> records;
    std::vector<std::size_t> lines;
};

parsed read_all(const std::string& text, const std::string& source = "test.csv") {
    std::istringstream in(text);
    approxnn::csv_reader reader(in, source);
    parsed result;
    record fields;
    while (reader.next(fields)) {
        result.records.push_back(fields);
        result.lines.push_back(reader.line());
    }
    return result;
}

/// The message of the approxnn::format_error `f` throws ("" when it throws nothing or something else).
template <class F>
std::string format_error_message(F&& f) {
    try {
        f();
    } catch (const approxnn::format_error& e) {
        return e.what();
    } catch (...) {
        return "<another exception>";
    }
    return "<no exception>";
}

using test_support::contains;

/// `text` in single quotes, as the parse functions quote it in their messages.
std::string quoted(const std::string& text) {
    std::string out;
    out += '\'';
    out += text;
    out += '\'';
    return out;
}

}  // namespace

TEST_CASE("csv_reader reads plain and quoted fields") {
    SUBCASE("plain fields") {
        const parsed p = read_all("a,b,c\n1,2,3\n");
        REQUIRE(p.records.size() == 2);
        CHECK(p.records[0] == record{"a", "b", "c"});
        CHECK(p.records[1] == record{"1", "2", "3"});
    }
    SUBCASE("last line without a line break") {
        const parsed p = read_all("x,y\nlast,one");
        REQUIRE(p.records.size() == 2);
        CHECK(p.records[1] == record{"last", "one"});
    }
    SUBCASE("empty fields, including a trailing one") {
        const parsed p = read_all("a,,c\n,b,\n");
        REQUIRE(p.records.size() == 2);
        CHECK(p.records[0] == record{"a", "", "c"});
        CHECK(p.records[1] == record{"", "b", ""});
    }
    SUBCASE("quoted fields holding commas") {
        const parsed p = read_all("\"a,b\",c,\"d,e,f\"\n");
        REQUIRE(p.records.size() == 1);
        CHECK(p.records[0] == record{"a,b", "c", "d,e,f"});
    }
    SUBCASE("doubled quotes inside quotes are one literal quote") {
        const parsed p = read_all("\"say \"\"hi\"\"\",x,\"\"\"\"\n");
        REQUIRE(p.records.size() == 1);
        CHECK(p.records[0] == record{"say \"hi\"", "x", "\""});
    }
    SUBCASE("a quoted empty field") {
        const parsed p = read_all("\"\",b\n");
        REQUIRE(p.records.size() == 1);
        CHECK(p.records[0] == record{"", "b"});
    }
    SUBCASE("line breaks inside quotes belong to the field; line() is the line the record started on") {
        const parsed p = read_all("first,1\n\"two\nlines\",2\n\"three\n\nlines\",3\nafter,4\n");
        REQUIRE(p.records.size() == 4);
        CHECK(p.records[0] == record{"first", "1"});
        CHECK(p.records[1] == record{"two\nlines", "2"});
        CHECK(p.records[2] == record{"three\n\nlines", "3"});  // the blank line inside quotes is kept
        CHECK(p.records[3] == record{"after", "4"});
        // Lines: 1 first; 2-3 two/lines; 4-6 three//lines; 7 after.
        CHECK(p.lines == std::vector<std::size_t>{1, 2, 4, 7});
    }
    SUBCASE("a comma and a '#' inside quotes across a line break") {
        const parsed p = read_all("\"a,\n# not a comment\",z\n");
        REQUIRE(p.records.size() == 1);
        CHECK(p.records[0] == record{"a,\n# not a comment", "z"});
    }
}

TEST_CASE("csv_reader handles CRLF, comments, blank lines and trimming") {
    SUBCASE("CRLF line ends leave no carriage return in the fields") {
        const parsed p = read_all("a,b\r\nc,d\r\n\"e\r\nf\",g\r\n");
        REQUIRE(p.records.size() == 3);
        CHECK(p.records[0] == record{"a", "b"});
        CHECK(p.records[1] == record{"c", "d"});
        CHECK(p.records[2] == record{"e\nf", "g"});
        CHECK(p.lines == std::vector<std::size_t>{1, 2, 3});
    }
    SUBCASE("comment lines and blank lines are skipped but counted") {
        const std::string text =
            "# a comment\n"        // 1
            "\n"                   // 2
            "   \n"                // 3
            "a,b\n"                // 4
            "# another, with a comma\n"  // 5
            "\t\n"                 // 6
            "c,d\n"                // 7
            "\r\n"                 // 8
            "#\n";                 // 9
        const parsed p = read_all(text);
        REQUIRE(p.records.size() == 2);
        CHECK(p.records[0] == record{"a", "b"});
        CHECK(p.records[1] == record{"c", "d"});
        CHECK(p.lines == std::vector<std::size_t>{4, 7});
    }
    SUBCASE("a '#' that does not start the line is data") {
        const parsed p = read_all("a,#b\n");
        REQUIRE(p.records.size() == 1);
        CHECK(p.records[0] == record{"a", "#b"});
    }
    SUBCASE("spaces and tabs around unquoted fields are trimmed, inner spaces kept") {
        const parsed p = read_all("  a  ,\tb\t, c d ,e\n");
        REQUIRE(p.records.size() == 1);
        CHECK(p.records[0] == record{"a", "b", "c d", "e"});
    }
    SUBCASE("spaces inside quotes are kept") {
        const parsed p = read_all("\" a \",  \"  b\"\n");
        REQUIRE(p.records.size() == 1);
        CHECK(p.records[0] == record{" a ", "  b"});
    }
    SUBCASE("only comments and blank lines: no record") {
        const parsed p = read_all("# nothing\n\n");
        CHECK(p.records.empty());
        CHECK(read_all("").records.empty());
    }
}

TEST_CASE("csv_reader reports where the last record started") {
    std::istringstream in("# header comment\nname,value\n\n\"multi\nline\",1\nlast,2\n");
    approxnn::csv_reader reader(in, "dir/meta.csv");
    CHECK(reader.source() == "dir/meta.csv");
    record fields;
    REQUIRE(reader.next(fields));
    CHECK(reader.line() == 2);
    CHECK(reader.where() == "dir/meta.csv:2");
    REQUIRE(reader.next(fields));
    CHECK(reader.line() == 4);
    CHECK(reader.where() == "dir/meta.csv:4");
    REQUIRE(reader.next(fields));
    CHECK(fields == record{"last", "2"});
    CHECK(reader.line() == 6);
    CHECK(reader.where() == "dir/meta.csv:6");
    CHECK_FALSE(reader.next(fields));
    CHECK(fields.empty());
    CHECK_FALSE(reader.next(fields));  // stays at the end
}

TEST_CASE("an unterminated quote is a format_error naming the source and the line") {
    const std::string text = "a,b\n# comment\nok,\"never closed\nstill inside\n";
    std::istringstream in(text);
    approxnn::csv_reader reader(in, "broken.csv");
    record fields;
    REQUIRE(reader.next(fields));
    CHECK_THROWS_AS(reader.next(fields), approxnn::format_error);

    const std::string message = format_error_message([&] { read_all(text, "broken.csv"); });
    CHECK(contains(message, "broken.csv:3"));  // the record with the open quote starts on line 3
    CHECK(contains(message, "quoted field"));

    // An opening quote on the last line.
    const std::string last = format_error_message([&] { read_all("x\n\"open", "one.csv"); });
    CHECK(contains(last, "one.csv:2"));
}

TEST_CASE("text after a closing quote is a format_error, blanks there are ignored") {
    const parsed p = read_all("\"x\"  ,y\n");
    REQUIRE(p.records.size() == 1);
    CHECK(p.records[0] == record{"x", "y"});
    for (const std::string bad : {"\"ab\"cd,e\n", "a,\"x\" y\n"}) {
        CAPTURE(bad);
        const std::string message = format_error_message([&] { (void)read_all(bad, "meta.csv"); });
        CHECK(contains(message, "meta.csv:1"));
        CHECK(contains(message, "after the closing quote"));
    }
}

TEST_CASE("csv_field quotes exactly when needed and round-trips through csv_reader") {
    CHECK(approxnn::csv_field("plain") == "plain");
    CHECK(approxnn::csv_field("with space") == "with space");
    CHECK(approxnn::csv_field("") == "");
    CHECK(approxnn::csv_field("a,b") == "\"a,b\"");
    CHECK(approxnn::csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(approxnn::csv_field("two\nlines") == "\"two\nlines\"");
    CHECK(approxnn::csv_field(" lead") == "\" lead\"");
    CHECK(approxnn::csv_field("trail ") == "\"trail \"");
    CHECK(approxnn::csv_field("#hash") == "\"#hash\"");
    CHECK(approxnn::csv_field("a#b") == "a#b");

    const std::vector<record> records{
        {"plain", "a,b", "say \"hi\"", "two\nlines"},
        {" lead", "trail ", "#hash", ""},
        {"#first field", "x"},
        {"\ttab", "tab\t", "\t#tab then hash"},
        {"\"", "\"\"", ",", "\n"},
        {"EvoApproxLib mul8u_1JFF, PDK45_PWR", "0.391"},
    };
    std::string text;
    for (const record& r : records) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (i != 0) line += ',';
            line += approxnn::csv_field(r[i]);
        }
        text += line + "\n";
    }
    const parsed p = read_all(text);
    REQUIRE(p.records.size() == records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        CAPTURE(i);
        CHECK(p.records[i] == records[i]);
    }
}

TEST_CASE("parse_integer accepts whole decimal integers and rejects anything else") {
    using approxnn::parse_integer;
    CHECK(parse_integer("0", "f:1") == 0);
    CHECK(parse_integer("42", "f:1") == 42);
    CHECK(parse_integer("-7", "f:1") == -7);
    CHECK(parse_integer("+5", "f:1") == 5);
    CHECK(parse_integer("-2147483648", "f:1") == -2147483648LL);
    CHECK(parse_integer("9223372036854775807", "f:1") == 9223372036854775807LL);

    for (const std::string bad : {"", "+", "-", "abc", "12x", "1.5", " 1", "1 ", "0x10", "1e3", "+-1", "--1",
                                  "99999999999999999999"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_integer(bad, "table.csv:12"), approxnn::format_error);
        const std::string message = format_error_message([&] { (void)parse_integer(bad, "table.csv:12"); });
        CHECK(contains(message, "table.csv:12"));
        CHECK(contains(message, quoted(bad)));
        CHECK(contains(message, "not an integer"));
    }
}

TEST_CASE("parse_number accepts finite decimal numbers and rejects anything else") {
    using approxnn::parse_number;
    CHECK(parse_number("0", "f:1") == 0.0);
    CHECK(parse_number("1.5", "f:1") == 1.5);
    CHECK(parse_number("-0.25", "f:1") == -0.25);
    CHECK(parse_number("+3", "f:1") == 3.0);
    CHECK(parse_number("1e3", "f:1") == 1000.0);
    CHECK(parse_number("2.5E-1", "f:1") == 0.25);
    CHECK(parse_number(".5", "f:1") == 0.5);
    CHECK(parse_number("0.391", "f:1") == doctest::Approx(0.391).epsilon(1e-15));

    for (const std::string bad : {"", "+", "abc", "1.5x", "1,5", " 2", "nan", "inf", "-inf", "1e999", "+-1",
                                  "0x10"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_number(bad, "meta.csv:3: power_mw"), approxnn::format_error);
        const std::string message = format_error_message([&] { (void)parse_number(bad, "meta.csv:3: power_mw"); });
        CHECK(contains(message, "meta.csv:3: power_mw"));
        CHECK(contains(message, quoted(bad)));
        CHECK(contains(message, "not a finite number"));
    }
}
