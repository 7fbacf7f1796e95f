package redact

// cardEnd returns the end of a payment card number starting at s[i], or
// 0. It accepts 13 to 19 digits starting with 2–6, the first digits of
// the networks in use (Mastercard, Visa, Amex, Discover, JCB, UnionPay),
// written contiguously or in groups split by one space or dash
// throughout, the first group of four. The Luhn check must pass: one
// random number in ten does, so order numbers mostly stay in clear.
func cardEnd(s string, i int) int {
	if s[i] < '2' || s[i] > '6' {
		return 0
	}
	var digits [19]byte
	var sep byte
	n, end := 0, 0
	for j := i; ; {
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if n+k-j > len(digits) || sep != 0 && k-j > 6 {
			break
		}
		n += copy(digits[n:], s[j:k])
		if n >= 13 && endsToken(s, k) && luhnValid(digits[:n]) {
			end = k
		}
		if k+1 >= len(s) || !isDigit(s[k+1]) || s[k] != ' ' && s[k] != '-' {
			break
		}
		if sep == 0 {
			if k-j != 4 {
				break
			}
			sep = s[k]
		} else if s[k] != sep {
			break
		}
		j = k + 1
	}
	return end
}

// luhnValid reports whether the digits pass the Luhn check: doubling
// every second digit from the right, the digit sum is a multiple of 10.
func luhnValid(digits []byte) bool {
	sum := 0
	for k := range digits {
		d := int(digits[len(digits)-1-k] - '0')
		if k%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// ibanEnd returns the end of an IBAN starting at s[i], or 0: a country
// code, two check digits and the account number, contiguous or in
// groups split by single spaces, in any case (people type
// "gb82 west …" too). Countries in the IBAN registry must have their
// registered length; other country codes may have any length from 15
// to 34, the longest that checks being taken. The mod-97 check must
// pass, so IBAN-shaped strings that fail it stay in clear.
func ibanEnd(s string, i int) int {
	if i+4 > len(s) || !isLetter(s[i]) || !isLetter(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0
	}
	var buf [34]byte
	want := ibanLength(string(upper(buf[:2], s[i:i+2])))
	n, end := 0, 0
	for j := i; ; {
		k := j
		for k < len(s) && n < len(buf) && isAlnum(s[k]) {
			buf[n] = toUpper(s[k])
			n, k = n+1, k+1
		}
		if n >= 15 && (want == 0 || n == want) && endsToken(s, k) && ibanValid(buf[:n]) {
			end = k
		}
		if n == len(buf) || want != 0 && n >= want ||
			k+1 >= len(s) || s[k] != ' ' || !isAlnum(s[k+1]) {
			return end
		}
		j = k + 1
	}
}

// upper copies src into dst in upper case and returns dst.
func upper(dst []byte, src string) []byte {
	for k := range dst {
		dst[k] = toUpper(src[k])
	}
	return dst
}

func toUpper(c byte) byte {
	if isLower(c) {
		return c - ('a' - 'A')
	}
	return c
}

// ibanValid reports whether an IBAN passes ISO 7064 mod 97-10: with its
// first four characters moved to the end and letters read as 10–35, the
// number is 1 modulo 97.
func ibanValid(iban []byte) bool {
	r := 0
	for k := range iban {
		c := iban[(k+4)%len(iban)]
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	return r == 1
}

// ibanLength returns the registered IBAN length for a country code, or
// 0 for codes not listed here.
func ibanLength(cc string) int {
	switch cc {
	case "NO":
		return 15
	case "BE":
		return 16
	case "DK", "FI", "FO", "GL", "NL":
		return 18
	case "MK", "SI":
		return 19
	case "AT", "BA", "EE", "KZ", "LT", "LU", "XK":
		return 20
	case "CH", "HR", "LI", "LV":
		return 21
	case "BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA":
		return 22
	case "AE", "GI", "IL", "IQ", "TL":
		return 23
	case "AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG":
		return 24
	case "PT", "ST":
		return 25
	case "IS", "TR":
		return 26
	case "FR", "GR", "IT", "MC", "MR", "SM":
		return 27
	case "AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV":
		return 28
	case "BR", "EG", "PS", "QA", "UA":
		return 29
	case "JO", "KW", "MU":
		return 30
	case "MT", "SC":
		return 31
	case "LC":
		return 32
	}
	return 0
}
