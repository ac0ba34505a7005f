"""Money: an exact ``Decimal`` amount in an ISO 4217 currency, never a float.

Every currency has a number of minor units (JPY 0, EUR 2, KWD 3). Amounts given to us must
fit them exactly (``12.345`` EUR is refused, not rounded behind the caller's back); amounts we
compute (a percentage off) are rounded half-even to them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from domain.errors import InvalidValue

# ISO 4217 active codes by minor units (list one, 2025). Codes absent here are refused.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO.split(), 2),
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
    **dict.fromkeys(_FOUR.split(), 4),
}

# Far above any real price, and small enough that no sum of them loses precision.
MAX_AMOUNT = Decimal("1000000000000")


def check_currency(code: object, what: str = "currency") -> str:
    if not isinstance(code, str) or code not in MINOR_UNITS:
        raise InvalidValue(f"{what} must be an ISO 4217 currency code, got {code!r}", field=what)
    return code


def minor_units(currency: str) -> int:
    return MINOR_UNITS[check_currency(currency)]


def quantum(currency: str) -> Decimal:
    """The currency's smallest unit: Decimal('1') for JPY, Decimal('0.01') for EUR."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-even (banker's) rounding to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


def check_amount(amount: object, currency: str, what: str = "amount") -> Decimal:
    """A price as given by a caller: a finite, non-negative Decimal with no more decimals
    than the currency has minor units. Returned at the currency's scale (12.5 -> 12.50)."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str):
        raise InvalidValue(f"{what} must be a decimal number, got {amount!r}", field=what)
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise InvalidValue(f"{what} must be a decimal number, got {amount!r}", field=what) from None
    if not value.is_finite():
        raise InvalidValue(f"{what} must be a finite number", field=what)
    if value < 0 or value > MAX_AMOUNT:
        raise InvalidValue(f"{what} must be between 0 and {MAX_AMOUNT}", field=what)
    places = minor_units(currency)
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > places:
        raise InvalidValue(
            f"{what} {value} has more decimals than {currency} allows ({places})",
            field=what,
            currency=currency,
        )
    return round_money(value, currency)
