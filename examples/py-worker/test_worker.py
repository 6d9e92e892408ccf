import unittest

from worker import average_price


class AveragePriceTest(unittest.TestCase):
    def test_average_of_items(self):
        self.assertEqual(average_price({"items": [{"price": 2}, {"price": 4}]}), 3)


if __name__ == "__main__":
    unittest.main()
