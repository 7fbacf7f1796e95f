package redact

import "strings"

// nirEnd reads a French social security number (NIR) at s[i]: sex,
// birth year and month, department (2A or 2B in Corsica), commune and
// order number, then a key, 97 - (number mod 97), with the Corsican
// departments counted as 19 and 18. Fields may be split by single
// spaces: "1 85 05 78 006 084 36".
func nirEnd(s string, i int) int {
	f := fields{s: s, i: i, seps: " "}
	var d [13]byte
	var key [2]byte
	if !f.digits(d[0:1]) || !f.digits(d[1:3]) || !f.digits(d[3:5]) ||
		!f.next(d[5:7], isAlnum) || !f.digits(d[7:10]) || !f.digits(d[10:13]) ||
		!f.digits(key[:]) || !endsToken(s, f.i) {
		return 0
	}
	switch string(d[5:7]) {
	case "2A":
		copy(d[5:7], "19")
	case "2B":
		copy(d[5:7], "18")
	default:
		if !isDigit(d[5]) || !isDigit(d[6]) {
			return 0
		}
	}
	// Sex 1 or 2, 3 or 4 for provisional numbers, 7 or 8 for foreigners;
	// months 20–42 and 50–99 stand for unknown or special registrations.
	month := atoi(d[3:5])
	if !inSet(d[0], "123478") || month == 0 || month > 12 && month < 20 || month > 42 && month < 50 {
		return 0
	}
	n := 0
	for _, c := range d {
		n = (n*10 + int(c-'0')) % 97
	}
	if 97-n != atoi(key[:]) {
		return 0
	}
	return f.i
}

// belgianEnd reads a Belgian national register number at s[i],
// YY.MM.DD-SSS.CC: birth date, serial number and a check of
// 97 - (first nine digits mod 97), the nine digits prefixed with 2 for
// people born since 2000. "Bis" numbers add 20 or 40 to the month.
func belgianEnd(s string, i int) int {
	f := fields{s: s, i: i, seps: ".- "}
	var d [11]byte
	if !f.digits(d[0:2]) || !f.digits(d[2:4]) || !f.digits(d[4:6]) ||
		!f.digits(d[6:9]) || !f.digits(d[9:11]) || !endsToken(s, f.i) {
		return 0
	}
	month, day := atoi(d[2:4]), atoi(d[4:6])
	if month > 52 || month%20 > 12 || day > 31 {
		return 0
	}
	n, check := atoi(d[:9]), atoi(d[9:])
	if 97-n%97 != check && 97-(2_000_000_000+n)%97 != check {
		return 0
	}
	return f.i
}

// bsnEnd reads a Dutch citizen service number (BSN) at s[i]: nine
// digits passing the "11-proef". One random nine-digit number in eleven
// passes it, too many for free text, so the number must be written
// 1234.56.782 or follow a label such as "BSN: ".
func bsnEnd(s string, i int) int {
	f := fields{s: s, i: i, seps: "."}
	var d [9]byte
	if !f.digits(d[0:4]) || !f.digits(d[4:6]) || !f.digits(d[6:9]) || !endsToken(s, f.i) {
		return 0
	}
	if dotted := f.i-i == 11; !dotted && (f.i-i != 9 || !bsnLabelled(s, i)) {
		return 0
	}
	sum := -int(d[8] - '0')
	for k, c := range d[:8] {
		sum += (9 - k) * int(c-'0')
	}
	if sum%11 != 0 {
		return 0
	}
	return f.i
}

// bsnLabelled reports whether the number at s[i] follows a word naming
// it, with at most three spaces or punctuation bytes in between.
func bsnLabelled(s string, i int) bool {
	return labelled(s, i, "bsn", "burgerservicenummer", "sofinummer")
}

// labelled reports whether the value at s[i] follows one of labels, in
// any case, as a word of its own, with at most three spaces or
// punctuation bytes in between.
func labelled(s string, i int, labels ...string) bool {
	j := i
	for j > 0 && i-j < 3 && inSet(s[j-1], " \t:#.-") {
		j--
	}
	for _, l := range labels {
		w := j - len(l)
		if w >= 0 && strings.EqualFold(s[w:j], l) && (w == 0 || !attachedBefore(s[w-1])) {
			return true
		}
	}
	return false
}

// inNumberChain reports whether the value s[start:end] is glued to more
// digits by a dash, dot or slash, as the "123-45-6789" of the part
// number "01-123-45-6789" is: then it is a piece of a longer number. A
// placeholder counts as digits, since it may stand for the rest of the
// chain: what was a chain on the first pass stays one on the second.
func inNumberChain(s string, start, end int) bool {
	return start >= 2 && inSet(s[start-1], "-./") && (isDigit(s[start-2]) || s[start-2] == ']') ||
		end+1 < len(s) && inSet(s[end], "-./") && (isDigit(s[end+1]) || s[end+1] == '[')
}

// ssnEnd reads a US social security number at s[i]: area, group and
// serial, 123-45-6789 or 123 45 6789, or nine bare digits after a label
// such as "SSN" (one random nine-digit number in ten passes the rules
// below, too many for free text). The Social Security Administration
// never issues area 000, 666 or 900–999, group 00 or serial 0000.
func ssnEnd(s string, i int) int {
	f := fields{s: s, i: i, seps: "- "}
	var d [9]byte
	if !f.digits(d[0:3]) || !f.digits(d[3:5]) || !f.digits(d[5:9]) || !endsToken(s, f.i) || inNumberChain(s, i, f.i) {
		return 0
	}
	switch f.i - i {
	case 11: // grouped, one separator throughout
		if s[i+3] != s[i+6] {
			return 0
		}
	case 9:
		if !labelled(s, i, "ssn", "social security number", "social security no", "social security") {
			return 0
		}
	default:
		return 0
	}
	area, group, serial := atoi(d[0:3]), atoi(d[3:5]), atoi(d[5:9])
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
		return 0
	}
	return f.i
}

// ninoEnd reads a UK National Insurance number at s[i]: two prefix
// letters, six digits and a suffix letter A–D, as AB123456C or
// AB 12 34 56 C. HMRC never uses D, F, I, Q, U or V as the first letter,
// those and O as the second, nor the prefixes BG, GB, KN, NK, NT, TN and
// ZZ.
func ninoEnd(s string, i int) int {
	f := fields{s: s, i: i, seps: " "}
	var d [9]byte
	if !f.next(d[0:2], isUpper) || !f.digits(d[2:4]) || !f.digits(d[4:6]) || !f.digits(d[6:8]) ||
		!f.next(d[8:9], isUpper) || !endsToken(s, f.i) {
		return 0
	}
	if n := f.i - i; n != 9 && n != 13 { // contiguous, or every group spaced
		return 0
	}
	switch prefix := string(d[0:2]); {
	case inSet(d[0], "DFIQUV"), inSet(d[1], "DFIOQUV"), !inSet(d[8], "ABCD"):
		return 0
	case prefix == "BG", prefix == "GB", prefix == "KN", prefix == "NK", prefix == "NT", prefix == "TN", prefix == "ZZ":
		return 0
	}
	return f.i
}

// steuerIDEnd reads a German tax identification number (steuerliche
// Identifikationsnummer) at s[i]: eleven digits, 12345678903 or
// 12 345 678 903, the first not 0, passing steuerIDValid. About one
// random eleven-digit number in 250 passes, so it needs no label.
func steuerIDEnd(s string, i int) int {
	f := fields{s: s, i: i, seps: " "}
	var d [11]byte
	if !f.digits(d[0:2]) || !f.digits(d[2:5]) || !f.digits(d[5:8]) || !f.digits(d[8:11]) || !endsToken(s, f.i) {
		return 0
	}
	if n := f.i - i; n != 11 && n != 14 || d[0] == '0' || inNumberChain(s, i, f.i) || !steuerIDValid(d) {
		return 0
	}
	return f.i
}

// steuerIDValid checks a Steuer-ID's structure and check digit. In its
// first ten digits exactly one digit occurs twice or three times, the
// others at most once, and a tripled digit never three times in a row.
// The eleventh digit is the ISO 7064 MOD 11,10 check of the first ten.
func steuerIDValid(d [11]byte) bool {
	var counts [10]int
	for _, c := range d[:10] {
		counts[c-'0']++
	}
	repeated := 0
	for _, n := range counts {
		switch {
		case n > 3:
			return false
		case n > 1:
			repeated++
		}
	}
	if repeated != 1 {
		return false
	}
	for k := 2; k < 10; k++ {
		if d[k] == d[k-1] && d[k] == d[k-2] {
			return false
		}
	}
	product := 10
	for _, c := range d[:10] {
		sum := (int(c-'0') + product) % 10
		if sum == 0 {
			sum = 10
		}
		product = sum * 2 % 11
	}
	check := 11 - product
	if check == 10 {
		check = 0
	}
	return int(d[10]-'0') == check
}

// spanishIDEnd reads a Spanish DNI (eight digits and a check letter) or
// NIE (X, Y or Z standing for 0, 1 or 2, seven digits and a check
// letter) at s[i]. The letter is "TRWAGMYFPDXBNJZSQVHLCKE"[n mod 23] and
// may follow a dash or a space.
func spanishIDEnd(s string, i int) int {
	j, width, n := i, 8, 0
	if c := s[i]; c == 'X' || c == 'Y' || c == 'Z' {
		j, width, n = i+1, 7, int(c-'X')
		if j < len(s) && s[j] == '-' {
			j++
		}
	}
	if !digitsAt(s, j, width) {
		return 0
	}
	for _, c := range []byte(s[j : j+width]) {
		n = n*10 + int(c-'0')
	}
	if j += width; j < len(s) && (s[j] == '-' || s[j] == ' ') {
		j++
	}
	if j >= len(s) || s[j] != "TRWAGMYFPDXBNJZSQVHLCKE"[n%23] || !endsToken(s, j+1) {
		return 0
	}
	return j + 1
}

// codiceFiscaleEnd reads an Italian fiscal code at s[i], such as
// RSSMRA85T10A562S: three letters each for surname and name, birth year,
// month letter, day (plus 40 for women), municipality, and a check
// letter. Where two people would share a code, digits are replaced by
// the letters LMNPQRSTUV (omocodia).
func codiceFiscaleEnd(s string, i int) int {
	const n = 16
	if i+n > len(s) || !endsToken(s, i+n) {
		return 0
	}
	cf := s[i : i+n]
	for k := range n {
		c := cf[k]
		switch k {
		case 0, 1, 2, 3, 4, 5, 11, 15:
			if !isUpper(c) {
				return 0
			}
		case 8:
			if !inSet(c, "ABCDEHLMPRST") {
				return 0
			}
		default:
			if !isDigit(c) && !inSet(c, "LMNPQRSTUV") {
				return 0
			}
		}
	}
	if day := omocodiaDigit(cf[9])*10 + omocodiaDigit(cf[10]); day%40 < 1 || day%40 > 31 || day > 71 {
		return 0
	}
	if codiceFiscaleCheck(cf[:15]) != cf[15] {
		return 0
	}
	return i + n
}

// omocodiaDigit returns the digit that c stands for in a fiscal code.
func omocodiaDigit(c byte) int {
	if isDigit(c) {
		return int(c - '0')
	}
	return strings.IndexByte("LMNPQRSTUV", c)
}

// codiceFiscaleCheck computes the check letter of a fiscal code's first
// fifteen characters: characters in odd positions (counting from 1)
// are weighted by the table below, the others by their rank (0–9, A=0).
func codiceFiscaleCheck(cf string) byte {
	odd := [26]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}
	sum := 0
	for k := range len(cf) {
		c := cf[k]
		v := int(c - 'A')
		if isDigit(c) {
			v = int(c - '0')
		}
		if k%2 == 0 {
			v = odd[v]
		}
		sum += v
	}
	return byte('A' + sum%26)
}
